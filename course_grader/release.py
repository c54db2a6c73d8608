"""Stage 2 — release: the student edition of an instructor notebook, checked for leaks.

Public: :func:`student_edition`, :func:`find_leaks`, :func:`secret_lines`, :func:`release`
(``make assignments``). :func:`make_release` is ``student_edition`` with positional ``name``.
"""
from __future__ import annotations

import copy
import csv
import re
from pathlib import Path
from typing import Iterable, List, Optional

import nbformat
from nbformat.notebooknode import NotebookNode

from .chapters import (MARKERS, NOTEBOOKS, REPO, SECRET_REGIONS, PathLike, check_chapter,
                       exercise_index, find_chapters, fmt, has_exercises, index_markdown,
                       index_rows, is_exercise_cell, nbgrader_meta, read_notebook, resolve_chapter)

RELEASE = REPO / "release"


def _release_preprocessors():
    from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                        ClearOutput, ClearSolutions, ComputeChecksums, LockCells)

    # nbgrader generate_assignment's order, minus the database (SaveCells) and the
    # header/footer and autotest steps this course does not use.
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
            ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]


def student_edition(nb: NotebookNode, *, keep_lesson_outputs: bool = False,
                    name: str = "notebook") -> NotebookNode:
    """Return the student copy of instructor notebook ``nb`` (``nb`` is not modified).

    Solutions become ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests are
    removed, locked cells are marked undeletable/uneditable and checksums are stored, all by
    nbgrader's preprocessors, in ``nbgrader generate_assignment``'s order. All outputs are
    cleared, unless ``keep_lesson_outputs=True``: then lesson cells (code cells without nbgrader
    solution/grade metadata) keep their outputs and execution counts and only exercise cells
    are cleared (the web book and the learner workspace use this).

    Raises ``TypeError`` if ``nb`` is not a NotebookNode and ``ValueError`` if the chapter breaks
    the authoring rules (:func:`course_grader.chapters.check_chapter`) or the result leaks
    anything (:func:`find_leaks`)."""
    if not isinstance(nb, NotebookNode):
        raise TypeError(f"nb must be an nbformat NotebookNode, got {type(nb).__name__}")
    problems = check_chapter(nb, name)
    if problems:
        raise ValueError("cannot release " + name + ":\n  " + "\n  ".join(problems))
    student = copy.deepcopy(nb)
    resources: dict = {}
    for pre in _release_preprocessors():
        student, resources = pre.preprocess(student, resources)
    if len(student.cells) != len(nb.cells):  # pragma: no cover - nbgrader never drops cells
        raise ValueError(f"{name}: nbgrader changed the number of cells")
    for original, cell in zip(nb.cells, student.cells):
        cell.metadata.pop("execution", None)
        if keep_lesson_outputs and cell.cell_type == "code" and not is_exercise_cell(original):
            cell.outputs = copy.deepcopy(original.get("outputs", []))
            cell.execution_count = original.get("execution_count")
    student.metadata.pop("widgets", None)
    leaks = find_leaks(student, nb, lesson_outputs_allowed=keep_lesson_outputs)
    if leaks:
        raise ValueError(f"{name}: the student release would leak: " + "; ".join(leaks[:5]))
    return student


def make_release(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """``student_edition(nb, name=name)``: every output cleared."""
    return student_edition(nb, name=name)


def _trivial(line: str) -> bool:
    return len(line) < 4 or line.startswith("#") or not re.search(r"[A-Za-z0-9]", line)


def secret_lines(nb: NotebookNode) -> set:
    """Stripped, non-trivial lines that occur *only* inside solution / hidden-test / mark-scheme
    regions of ``nb`` (a line also present in public cell text is not a secret)."""
    secret, public = set(), set()
    for cell in nb.cells:
        inside = None
        for raw in cell.source.splitlines():
            line = raw.strip()
            begin = next((b for b, e in SECRET_REGIONS if b in line), None)
            end = next((e for b, e in SECRET_REGIONS if e in line), None)
            if begin:
                inside = begin
                continue
            if end:
                inside = None
                continue
            (secret if inside else public).add(line)
    return {line for line in secret - public if not _trivial(line)}


def _output_text(output) -> str:
    parts = []
    if output.get("text"):
        parts.append(output["text"] if isinstance(output["text"], str) else "".join(output["text"]))
    for key in ("ename", "evalue"):
        if output.get(key):
            parts.append(str(output[key]))
    parts.extend(str(t) for t in output.get("traceback", []) or [])
    for mime, value in (output.get("data") or {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append(value if isinstance(value, str) else str(value))
    return "\n".join(parts)


def find_leaks(student: NotebookNode, instructor: NotebookNode, *,
               lesson_outputs_allowed: bool = False) -> List[str]:
    """What a student copy gives away: region markers, outputs, execution counts, and any secret
    line of the instructor copy (:func:`secret_lines`). Empty list = clean.

    With ``lesson_outputs_allowed=True`` (a ``keep_lesson_outputs`` edition) lesson cells may
    have outputs, but their text must not contain a marker or a secret line; exercise cells
    must still have none."""
    problems = []
    secrets = secret_lines(instructor)
    for i, cell in enumerate(student.cells):
        where = nbgrader_meta(cell).get("grade_id") or f"cell {i}"
        for marker in MARKERS:
            if marker in cell.source:
                problems.append(f"{where}: marker {marker!r}")
        if cell.cell_type == "code":
            if lesson_outputs_allowed and not is_exercise_cell(cell):
                text = "\n".join(_output_text(o) for o in cell.get("outputs", []))
                for marker in MARKERS:
                    if marker in text:
                        problems.append(f"{where}: marker {marker!r} in an output")
                for raw in text.splitlines():
                    if raw.strip() in secrets:
                        problems.append(f"{where}: solution/hidden line {raw.strip()!r} in an output")
            else:
                if cell.get("outputs"):
                    problems.append(f"{where}: has outputs")
                if cell.get("execution_count") is not None:
                    problems.append(f"{where}: has an execution count")
        for raw in cell.source.splitlines():
            if raw.strip() in secrets:
                problems.append(f"{where}: solution/hidden line {raw.strip()!r}")
    return problems


def release(chapters: Optional[Iterable[PathLike]] = None, out: Optional[PathLike] = None,
            notebooks_dir: Optional[PathLike] = None, quiet: bool = False) -> List[Path]:
    """Write student copies of ``chapters`` (default: every chapter with exercises) to ``out``
    (default ``release/``) plus ``index.md`` and ``index.csv``; return the notebook paths."""
    out = Path(out) if out is not None else RELEASE
    paths = ([resolve_chapter(c, notebooks_dir) for c in chapters] if chapters
             else find_chapters(notebooks_dir))
    if not paths:
        folder = notebooks_dir or NOTEBOOKS
        raise ValueError(f"no chapter notebooks with nbgrader exercises in {folder}")
    out.mkdir(parents=True, exist_ok=True)
    written, failures, released = [], [], []
    for path in paths:
        nb = read_notebook(path)
        try:
            if not has_exercises(nb):
                raise ValueError(f"{path.name} has no nbgrader grade cells")
            student = student_edition(nb, name=path.name)
        except ValueError as exc:
            failures.append(str(exc))
            continue
        released.append(path)
        target = out / path.name
        nbformat.write(student, str(target))
        written.append(target)
        if not quiet:
            ex = exercise_index(nb)
            print(f"released {path.name}: {len(ex)} exercises, "
                  f"{fmt(sum(e.points for e in ex))} points -> {target}")
    all_paths = sorted({p.resolve(): p for p in released}.values(), key=lambda p: p.name)
    (out / "index.md").write_text(index_markdown(all_paths), encoding="utf-8")
    with open(out / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["chapter", "exercise", "title", "grade_cells", "points"])
        writer.writeheader()
        writer.writerows(index_rows(all_paths))
    if not quiet:
        print(f"index: {out / 'index.md'}, {out / 'index.csv'}")
    if failures:
        raise ValueError(f"{len(failures)} chapter(s) not released:\n" + "\n".join(failures))
    return written
