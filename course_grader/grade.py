"""The pipeline: validate → merge → run → score → report, for every submission of one chapter."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import nbformat

from .chapters import REPO, PathLike, exercise_index, has_exercises, read_notebook, resolve_chapter
from .merge import build_submission
from .release import student_edition
from .report import CsvWriter, GradeResult, format_table
from .run import DEFAULT_CELL_TIMEOUT, DEFAULT_TIMEOUT, execute_notebook
from .score import score_notebook

AUTOGRADED = REPO / "autograded"


def student_name(path: Path, chapter: Path) -> str:
    stem = path.stem
    if stem == chapter.stem or stem.lower() in ("submission", "notebook", "assignment"):
        return path.resolve().parent.name
    return stem


def autograde(chapter: PathLike, submissions: Sequence[PathLike],
              timeout: float = DEFAULT_TIMEOUT, cell_timeout: float = DEFAULT_CELL_TIMEOUT,
              csv_path: Optional[PathLike] = None, out: Optional[PathLike] = None,
              notebooks_dir: Optional[PathLike] = None, quiet: bool = False) -> List[GradeResult]:
    """Grade ``submissions`` of ``chapter``; print the table, write the CSV, return the results."""
    if isinstance(submissions, (str, os.PathLike)):
        submissions = [submissions]
    if not submissions:
        raise ValueError("submissions must name at least one handed-in notebook")
    chapter = resolve_chapter(chapter, notebooks_dir)
    instructor = read_notebook(chapter)
    if not has_exercises(instructor):
        raise ValueError(f"{chapter.name} has no nbgrader grade cells")
    student_copy = student_edition(instructor, name=chapter.name)
    out_dir = (Path(out) if out is not None else AUTOGRADED) / chapter.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    maxima = {ex.exercise_id: ex.points for ex in exercise_index(instructor)}
    results: List[GradeResult] = []
    names: Dict[str, int] = {}
    csv_path = Path(csv_path) if csv_path is not None else out_dir / "scores.csv"
    with CsvWriter(csv_path, chapter.stem, maxima) as writer:
        for sub in submissions:
            sub = Path(sub)
            started = time.monotonic()
            name = student_name(sub, chapter)
            names[name] = names.get(name, 0) + 1
            if names[name] > 1:
                name = f"{name}-{names[name]}"
            try:
                handed = read_notebook(sub)
            except (OSError, ValueError) as exc:
                reason = "file not found" if isinstance(exc, FileNotFoundError) else "unreadable notebook"
                r = GradeResult(name, str(sub), {k: 0.0 for k in maxima}, dict(maxima),
                                [f"{reason}: not executed, all 0"], time.monotonic() - started)
                results.append(r)
                writer.write(r)
                continue
            nb, notes = build_submission(instructor, handed, student_copy)
            executed, run_notes = execute_notebook(nb, chapter, timeout, cell_timeout)
            scores, _, score_notes = score_notebook(nb, executed)
            from nbgrader.preprocessors import LimitOutput

            nb, _ = LimitOutput().preprocess(nb, {})
            graded = out_dir / f"{name}.ipynb"
            nbformat.write(nb, str(graded))
            r = GradeResult(name, str(sub), scores, dict(maxima), notes + run_notes + score_notes,
                            time.monotonic() - started, graded)
            results.append(r)
            writer.write(r)
    if not quiet:
        print(f"{chapter.stem}: {len(results)} submission(s)")
        print(format_table(results))
        print(f"CSV: {csv_path}   graded notebooks: {out_dir}")
    return results
