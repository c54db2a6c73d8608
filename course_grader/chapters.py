"""Stage 1 — find chapters: which notebooks have nbgrader exercises, and what each exercise is.

Public: :data:`NOTEBOOKS`, :func:`read_notebook`, :func:`find_chapters`, :func:`resolve_chapter`,
:class:`Exercise`, :func:`exercise_index`, :func:`check_chapter`, :func:`index_markdown`,
:func:`index_rows`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import nbformat
from nbformat.notebooknode import NotebookNode

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

PathLike = Union[str, os.PathLike]

MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN MARK SCHEME",
    "END MARK SCHEME",
)
SECRET_REGIONS = (
    ("BEGIN SOLUTION", "END SOLUTION"),
    ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
    ("BEGIN MARK SCHEME", "END MARK SCHEME"),
)
_CHAPTER_FILE = re.compile(r"^(\d{2})_[A-Za-z0-9_\-]+\.ipynb$")
_EXERCISE_ID = re.compile(r"^(ch\d+_ex\d+)")


def nbgrader_meta(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict, or ``{}`` (also when it is not a dict)."""
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return meta if isinstance(meta, dict) else {}


def is_exercise_cell(cell) -> bool:
    """True for nbgrader solution or grade (test) cells."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution") or meta.get("grade"))


def has_exercises(nb: NotebookNode) -> bool:
    return any(nbgrader_meta(c).get("grade") for c in nb.cells)


def fmt(x: float) -> str:
    return f"{float(x):g}"


def short(gid: str) -> str:
    """``ch05_ex1_test`` -> ``ex1_test``."""
    return re.sub(r"^ch\d+_", "", str(gid))


def read_notebook(path: PathLike) -> NotebookNode:
    """Read a notebook as nbformat v4 (raises ``ValueError`` naming the file if unreadable)."""
    path = Path(path)
    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise
    except Exception as exc:  # bad JSON, not a notebook, ...
        raise ValueError(f"{path} is not a readable notebook: {type(exc).__name__}: {exc}") from exc


def find_chapters(notebooks_dir: Optional[PathLike] = None) -> List[Path]:
    """Chapter notebooks (``NN_slug.ipynb``) in ``notebooks_dir`` (default ``notebooks/``) that
    have nbgrader grade cells, sorted by chapter number."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS
    if not folder.is_dir():
        raise ValueError(f"notebooks_dir must be a folder, got {str(folder)!r}")
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        if _CHAPTER_FILE.match(path.name) and has_exercises(read_notebook(path)):
            found.append(path)
    return found


def resolve_chapter(spec: PathLike, notebooks_dir: Optional[PathLike] = None) -> Path:
    """Turn ``01`` / ``1`` / ``ch01`` / ``01_perceptron`` / a path into the chapter notebook path."""
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"chapter must be a str or path, got {type(spec).__name__}")
    text = str(spec)
    path = Path(text)
    if path.suffix == ".ipynb" and path.exists():
        return path
    folder = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS
    match = re.fullmatch(r"(?:ch)?(\d{1,2})", text.strip().lower())
    if match:
        prefix = f"{int(match.group(1)):02d}_"
        hits = sorted(p for p in folder.glob(prefix + "*.ipynb") if _CHAPTER_FILE.match(p.name))
    else:
        stem = path.name[:-6] if path.name.endswith(".ipynb") else path.name
        hits = [p for p in [folder / f"{stem}.ipynb"] if p.exists()]
    if len(hits) != 1:
        have = ", ".join(p.name for p in sorted(folder.glob("*.ipynb"))) or "none"
        raise ValueError(f"chapter {text!r} matches {len(hits)} notebooks in {folder} (have: {have})")
    return hits[0]


@dataclass
class Exercise:
    """One exercise: its id (``chNN_exK``), title, grade cells ``[(grade_id, points)]``."""

    exercise_id: str
    title: str = ""
    grade_cells: List[Tuple[str, float]] = field(default_factory=list)
    solution_cells: List[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return float(sum(p for _, p in self.grade_cells))


def exercise_key(grade_id: str) -> str:
    """``ch05_ex1_test`` -> ``ch05_ex1`` (the exercise a grade_id belongs to)."""
    match = _EXERCISE_ID.match(grade_id)
    return match.group(1) if match else grade_id


def exercise_index(nb: NotebookNode) -> List[Exercise]:
    """The exercises of a notebook in order, grouped by the ``chNN_exK`` prefix of their grade_ids.

    The title is the first line of the exercise's markdown task cell (``#`` stripped)."""
    exercises: Dict[str, Exercise] = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        ex = exercises.setdefault(exercise_key(gid), Exercise(exercise_key(gid)))
        if meta.get("grade"):
            ex.grade_cells.append((gid, float(meta.get("points", 0))))
        if meta.get("solution"):
            ex.solution_cells.append(gid)
        if cell.cell_type == "markdown" and not ex.title:
            for line in cell.source.splitlines():
                if line.strip():
                    ex.title = line.strip().lstrip("#").strip()
                    break
    return [ex for ex in exercises.values() if ex.grade_cells]


def check_chapter(nb: NotebookNode, name: str = "notebook") -> List[str]:
    """Problems that would make nbgrader (or this grader) fail on, or mis-grade, chapter ``nb``.

    Checks: solution markers only in solution cells and hidden-test markers only in grade cells
    (nbgrader refuses marker text anywhere else, prose included), balanced markers, unique
    grade_ids, ``schema_version`` 3, points on grade cells, grade cells locked, grade_ids named
    ``chNN_exK_...`` after the notebook's number. Empty list = fine."""
    problems = []
    number = re.match(r"(\d{2})_", Path(name).name)
    seen = set()
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        where = f"{name} cell {i}" + (f" ({gid})" if gid else "")
        for begin, end in SECRET_REGIONS:
            n_begin = sum(begin in line for line in cell.source.splitlines())
            n_end = sum(end in line for line in cell.source.splitlines())
            if not (n_begin or n_end):
                continue
            allowed = meta.get("solution") if "SOLUTION" in begin else meta.get("grade")
            if "MARK SCHEME" in begin:
                allowed = meta.get("task") or (meta.get("solution") and meta.get("grade"))
            if not allowed:
                problems.append(f"{where}: text {begin!r}/{end!r} outside a "
                                f"{'solution' if 'SOLUTION' in begin else 'grade'} cell "
                                "(nbgrader rejects the marker text even in prose; students see "
                                "'# YOUR CODE HERE' / 'raise NotImplementedError()' instead)")
            elif n_begin != n_end:
                problems.append(f"{where}: {n_begin} x {begin!r} but {n_end} x {end!r}")
        if not meta:
            continue
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: nbgrader schema_version must be 3, got {meta.get('schema_version')!r}")
        if (meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task")):
            if not gid:
                problems.append(f"{where}: nbgrader cell without grade_id")
                continue
            if gid in seen:
                problems.append(f"{where}: grade_id {gid!r} used twice")
            seen.add(gid)
            if number and not gid.startswith(f"ch{number.group(1)}_ex"):
                problems.append(f"{where}: grade_id should start with 'ch{number.group(1)}_exK_'")
        if meta.get("grade"):
            try:
                if float(meta.get("points")) <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(f"{where}: grade cell needs positive points, got {meta.get('points')!r}")
            if not meta.get("locked") and not meta.get("solution"):
                problems.append(f"{where}: grade (test) cell must be locked")
    return problems


def index_rows(chapters: Sequence[Path]) -> List[dict]:
    """One row per exercise: chapter, exercise, title, grade_cells, points."""
    rows = []
    for path in chapters:
        for ex in exercise_index(read_notebook(path)):
            rows.append({
                "chapter": path.stem,
                "exercise": ex.exercise_id,
                "title": ex.title,
                "grade_cells": len(ex.grade_cells),
                "points": fmt(ex.points),
            })
    return rows


def index_markdown(chapters: Sequence[Path]) -> str:
    """The markdown exercise/points index of ``make assignments`` (``release/index.md``)."""
    rows = index_rows(chapters)
    out = ["# 연습문제 목록 (exercises and points)", "",
           "| chapter | exercise | title | points |", "| --- | --- | --- | --- |"]
    for row in rows:
        title = row["title"].replace("|", "\\|")
        out.append(f"| {row['chapter']} | {row['exercise']} | {title} | {row['points']} |")
    out += ["", "| chapter | exercises | points |", "| --- | --- | --- |"]
    total_ex, total_pts = 0, 0.0
    for path in chapters:
        mine = [r for r in rows if r["chapter"] == path.stem]
        pts = sum(float(r["points"]) for r in mine)
        total_ex, total_pts = total_ex + len(mine), total_pts + pts
        out.append(f"| {path.stem} | {len(mine)} | {fmt(pts)} |")
    out.append(f"| **total** | {total_ex} | {fmt(total_pts)} |")
    return "\n".join(out) + "\n"
