"""Classroom assignments: student releases and an offline autograder, nbgrader-compatible.

The chapters' 연습문제 use nbgrader's own format (cell metadata, ``### BEGIN SOLUTION`` /
``### END SOLUTION``, ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``), so an instructor can
drop a chapter into an nbgrader course unchanged. This module does the same two jobs without a
gradebook database, a JupyterHub or a network connection::

    python -m course_utils.assignments index [CHAPTER ...]
    python -m course_utils.assignments release [CHAPTER ...] [--out release]
    python -m course_utils.assignments autograde CHAPTER SUBMISSION.ipynb [...]
        [--timeout S] [--cell-timeout S] [--csv PATH] [--out autograded]

``CHAPTER`` is ``01``, ``1``, ``ch01``, ``01_perceptron`` or a notebook path.

**release** runs nbgrader's preprocessors (LockCells, ClearSolutions, ClearOutput,
CheckCellMetadata, ComputeChecksums, ClearHiddenTests, ClearMarkScheme) on each chapter in
``notebooks/`` that has nbgrader cells, in the order ``nbgrader generate_assignment`` uses, and
writes ``release/NN_slug.ipynb`` (next to ``notebooks/``, so ``../data`` paths keep working)
plus ``release/index.md`` and ``release/index.csv`` (exercises and points, no solutions). Every
release is checked for leaks before it is written (:func:`find_leaks`).

**autograde** rebuilds each handed-in notebook from the instructor's copy:

- solution cells (``solution: true``) are taken from the submission, matched by ``grade_id``;
  a solution cell missing from the submission gets the student stub back (so its tests score 0);
- every other cell — lesson code, task text, tests *with* their hidden part — comes from the
  instructor copy, in the instructor's order. A deleted or edited locked cell, or reordered
  cells, are therefore *restored*; the notes column says so. Cells a student added are ignored.

The rebuilt notebook runs in a fresh kernel of the current Python (the course venv) in a
temporary folder laid out like the repository (``<tmp>/notebooks`` is the working directory and
``<tmp>/data`` etc. link to the real folders, so relative paths work). Limits: ``--timeout`` for
the whole notebook and ``--cell-timeout`` for each exercise cell (solution and test cells). A cell
over its limit is interrupted and counts as an error; a kernel that dies or ignores the
interrupt ends the run and every grade cell not run scores 0.

Scoring is nbgrader's (:func:`nbgrader.utils.determine_grade`): a grade cell scores its points when
it runs without an error *and without any stderr output*, otherwise 0. Scores per exercise and in
total are printed as a table and written as CSV; executed notebooks are kept for feedback.
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import nbformat
from nbformat.notebooknode import NotebookNode

__all__ = [
    "NOTEBOOKS",
    "find_chapters",
    "resolve_chapter",
    "exercise_index",
    "check_chapter",
    "make_release",
    "find_leaks",
    "release",
    "build_submission",
    "autograde",
    "format_table",
    "main",
]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
RELEASE = REPO / "release"
AUTOGRADED = REPO / "autograded"

MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN MARK SCHEME",
    "END MARK SCHEME",
)
_SECRET_REGIONS = (
    ("BEGIN SOLUTION", "END SOLUTION"),
    ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
    ("BEGIN MARK SCHEME", "END MARK SCHEME"),
)
_CHAPTER_FILE = re.compile(r"^(\d{2})_[A-Za-z0-9_\-]+\.ipynb$")
_EXERCISE_ID = re.compile(r"^(ch\d+_ex\d+)")
DEFAULT_TIMEOUT = 900.0
DEFAULT_CELL_TIMEOUT = 60.0

PathLike = Union[str, os.PathLike]


# --------------------------------------------------------------------------- chapters
def _nbgrader(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _has_exercises(nb: NotebookNode) -> bool:
    return any(_nbgrader(c).get("grade") for c in nb.cells)


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
    """Chapter notebooks (``NN_slug.ipynb``) in ``notebooks_dir`` that have nbgrader grade cells,
    sorted by chapter number."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS
    if not folder.is_dir():
        raise ValueError(f"notebooks_dir must be a folder, got {str(folder)!r}")
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        if _CHAPTER_FILE.match(path.name) and _has_exercises(read_notebook(path)):
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


# --------------------------------------------------------------------------- index
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


def _exercise_key(grade_id: str) -> str:
    match = _EXERCISE_ID.match(grade_id)
    return match.group(1) if match else grade_id


def exercise_index(nb: NotebookNode) -> List[Exercise]:
    """The exercises of a notebook in order, grouped by the ``chNN_exK`` prefix of their grade_ids.

    The title is the first line of the exercise's markdown task cell (``#`` stripped)."""
    exercises: Dict[str, Exercise] = {}
    for cell in nb.cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        ex = exercises.setdefault(_exercise_key(gid), Exercise(_exercise_key(gid)))
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


def _index_rows(chapters: Sequence[Path]) -> List[dict]:
    rows = []
    for path in chapters:
        for ex in exercise_index(read_notebook(path)):
            rows.append({
                "chapter": path.stem,
                "exercise": ex.exercise_id,
                "title": ex.title,
                "grade_cells": len(ex.grade_cells),
                "points": _fmt(ex.points),
            })
    return rows


def _index_markdown(chapters: Sequence[Path]) -> str:
    rows = _index_rows(chapters)
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
        out.append(f"| {path.stem} | {len(mine)} | {_fmt(pts)} |")
    out.append(f"| **total** | {total_ex} | {_fmt(total_pts)} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- release
def _release_preprocessors():
    from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                        ClearOutput, ClearSolutions, ComputeChecksums, LockCells)

    # nbgrader generate_assignment's order, minus the database (SaveCells) and the
    # header/footer and autotest steps this course does not use.
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
            ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]


def check_chapter(nb: NotebookNode, name: str = "notebook") -> List[str]:
    """Problems that would make nbgrader (or this module) fail on, or mis-grade, chapter ``nb``.

    Checks: solution markers only in solution cells and hidden-test markers only in grade cells
    (nbgrader refuses marker text anywhere else, prose included), balanced markers, unique
    grade_ids, ``schema_version`` 3, points on grade cells, grade cells locked, grade_ids named
    ``chNN_exK_...`` after the notebook's number. Empty list = fine."""
    problems = []
    number = re.match(r"(\d{2})_", Path(name).name)
    seen = set()
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        where = f"{name} cell {i}" + (f" ({gid})" if gid else "")
        for begin, end in _SECRET_REGIONS:
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


def make_release(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """Return the student copy of instructor notebook ``nb`` (``nb`` is not modified).

    Solutions become ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests and
    all outputs are removed, locked cells are marked undeletable/uneditable and checksums are
    stored, all by nbgrader's preprocessors. Raises ``ValueError`` if the result leaks anything
    (see :func:`find_leaks`) or grade_ids repeat."""
    if not isinstance(nb, NotebookNode):
        raise TypeError(f"nb must be an nbformat NotebookNode, got {type(nb).__name__}")
    problems = check_chapter(nb, name)
    if problems:
        raise ValueError("cannot release " + name + ":\n  " + "\n  ".join(problems))
    student = copy.deepcopy(nb)
    resources: dict = {}
    for pre in _release_preprocessors():
        student, resources = pre.preprocess(student, resources)
    for cell in student.cells:
        cell.metadata.pop("execution", None)
    student.metadata.pop("widgets", None)
    leaks = find_leaks(student, nb)
    if leaks:
        raise ValueError(f"{name}: the student release would leak: " + "; ".join(leaks[:5]))
    return student


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
            begin = next((b for b, e in _SECRET_REGIONS if b in line), None)
            end = next((e for b, e in _SECRET_REGIONS if e in line), None)
            if begin:
                inside = begin
                continue
            if end:
                inside = None
                continue
            (secret if inside else public).add(line)
    return {line for line in secret - public if not _trivial(line)}


def find_leaks(student: NotebookNode, instructor: NotebookNode) -> List[str]:
    """What a student copy gives away: region markers, outputs, execution counts, and any secret
    line of the instructor copy (:func:`secret_lines`). Empty list = clean."""
    problems = []
    secrets = secret_lines(instructor)
    for i, cell in enumerate(student.cells):
        where = _nbgrader(cell).get("grade_id") or f"cell {i}"
        for marker in MARKERS:
            if marker in cell.source:
                problems.append(f"{where}: marker {marker!r}")
        if cell.cell_type == "code":
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
            if not _has_exercises(nb):
                raise ValueError(f"{path.name} has no nbgrader grade cells")
            student = make_release(nb, path.name)
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
                  f"{_fmt(sum(e.points for e in ex))} points -> {target}")
    all_paths = sorted({p.resolve(): p for p in released}.values(), key=lambda p: p.name)
    (out / "index.md").write_text(_index_markdown(all_paths), encoding="utf-8")
    with open(out / "index.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["chapter", "exercise", "title", "grade_cells", "points"])
        writer.writeheader()
        writer.writerows(_index_rows(all_paths))
    if not quiet:
        print(f"index: {out / 'index.md'}, {out / 'index.csv'}")
    if failures:
        raise ValueError(f"{len(failures)} chapter(s) not released:\n" + "\n".join(failures))
    return written


# --------------------------------------------------------------------------- autograde
@dataclass
class GradeResult:
    """Scores of one submission: ``scores[exercise_id]``, ``max_points[exercise_id]``, notes."""

    student: str
    submission: str
    scores: Dict[str, float]
    max_points: Dict[str, float]
    notes: List[str]
    seconds: float = 0.0
    graded: Optional[Path] = None

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))

    @property
    def max_total(self) -> float:
        return float(sum(self.max_points.values()))


def _short(gid: str) -> str:
    return re.sub(r"^ch\d+_", "", gid)


def build_submission(instructor: NotebookNode, submission: Optional[NotebookNode],
                     student: Optional[NotebookNode] = None) -> Tuple[NotebookNode, List[str]]:
    """Rebuild a handed-in notebook on the instructor copy; return ``(notebook, notes)``.

    Only solution cells come from ``submission`` (matched by grade_id, code stays code); a missing
    one gets the student stub from ``student`` (the release). All other cells, hidden tests
    included, are the instructor's, in the instructor's order. ``submission=None`` means
    "nothing usable was handed in". Outputs are cleared."""
    from nbgrader.preprocessors import ClearOutput

    if student is None:
        student = make_release(instructor)
    nb = copy.deepcopy(instructor)
    nb, _ = ClearOutput().preprocess(nb, {})
    notes: List[str] = []
    stub = {(_nbgrader(c).get("grade_id")): c for c in student.cells if _nbgrader(c).get("grade_id")}
    handed: Dict[str, NotebookNode] = {}
    order: List[str] = []
    duplicated = set()
    if submission is not None:
        for cell in submission.cells:
            gid = _nbgrader(cell).get("grade_id")
            if not gid:
                continue
            if gid in handed:
                duplicated.add(gid)
                continue
            handed[gid] = cell
            order.append(gid)
    ids = [_nbgrader(c).get("grade_id") for c in nb.cells if _nbgrader(c).get("grade_id")]
    missing, lost, edited, unanswered = [], [], [], []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        got = handed.get(gid)
        if meta.get("solution"):
            if submission is None:
                cell.source = stub[gid].source
            elif got is None or not _nbgrader(got).get("solution") or got.cell_type != cell.cell_type:
                lost.append(gid)
                cell.source = stub[gid].source
            else:
                cell.source = got.source
                if got.source.strip() == stub[gid].source.strip():
                    unanswered.append(gid)
        elif submission is not None:
            if got is None:
                missing.append(gid)
            elif (got.source.strip() not in (stub[gid].source.strip(), cell.source.strip())
                  or got.cell_type != cell.cell_type):
                edited.append(gid)
    if submission is not None:
        if lost:
            notes.append("solution cell missing: " + ", ".join(map(_short, lost)) + " (stub used)")
        if missing:
            notes.append("locked cell deleted: " + ", ".join(map(_short, missing)) + " (restored)")
        if edited:
            notes.append("locked cell edited: " + ", ".join(map(_short, edited)) + " (restored)")
        present = [g for g in order if g in ids]
        expected = [g for g in ids if g in handed]
        if present != expected:
            notes.append("cells reordered (instructor order used)")
        if duplicated:
            notes.append("duplicated cells: " + ", ".join(map(_short, sorted(duplicated)))
                         + " (first copy used)")
        public = {c.source.strip() for c in student.cells if not _nbgrader(c).get("grade_id")}
        extra = [c for c in submission.cells
                 if not _nbgrader(c).get("grade_id") and c.source.strip() not in public]
        if extra:
            notes.append(f"{len(extra)} other cells added or edited (ignored)")
        if unanswered:
            notes.append("unanswered: " + ", ".join(map(_short, unanswered)))
    return nb, notes


def _kernel_manager():
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class _CurrentPython(KernelSpecManager):
        """Every kernel name resolves to an ipykernel of this very Python (the course venv)."""

        def get_kernel_spec(self, kernel_name):  # noqa: D401
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_CurrentPython())


def _mirror(chapter: Path, tmp: Path) -> Path:
    """Lay ``tmp`` out like the repository: ``tmp/<notebooks>/`` (a real folder, the kernel's cwd)
    holding links to the chapter folder's non-notebook files, and links to the other entries
    of the repository root next to it. Returns the working folder."""
    src_dir = chapter.resolve().parent
    root = src_dir.parent
    work = tmp / src_dir.name
    work.mkdir()
    for entry in root.iterdir():
        if entry.name in (src_dir.name, ".git"):
            continue
        (tmp / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for entry in src_dir.iterdir():
        if entry.suffix == ".ipynb" or entry.name.startswith("."):
            continue
        (work / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return work


def _is_exercise_cell(cell: NotebookNode) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("solution") or meta.get("grade"))


def execute_notebook(nb: NotebookNode, chapter: PathLike, timeout: float = DEFAULT_TIMEOUT,
                     cell_timeout: float = DEFAULT_CELL_TIMEOUT) -> Tuple[set, List[str]]:
    """Execute ``nb`` in place (outputs stored in its cells) in a temporary copy of the repository
    layout; return ``(indices of executed code cells, notes)``. Never raises for what the notebook
    does: errors, timeouts and a dead kernel end up in the notes."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    for name, value in (("timeout", timeout), ("cell_timeout", cell_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    chapter = Path(chapter)
    notes: List[str] = []
    executed: set = set()
    replies: Dict[int, dict] = {}

    def on_cell_executed(cell, cell_index, execute_reply, **_):
        replies[cell_index] = execute_reply

    env = dict(os.environ)
    env.setdefault("COURSE_OFFLINE", "1")
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    deadline = time.monotonic() + float(timeout)
    timeout_error = {"ename": "TimeoutError", "evalue": "cell interrupted at its time limit",
                     "traceback": ["TimeoutError: cell interrupted at its time limit"]}
    with tempfile.TemporaryDirectory(prefix="autograde-") as tmp:
        work = _mirror(chapter, Path(tmp))
        client = NotebookClient(nb, km=_kernel_manager(), timeout=int(cell_timeout),
                                allow_errors=True, interrupt_on_timeout=True,
                                error_on_timeout=timeout_error, shutdown_kernel="immediate",
                                record_timing=False, resources={"metadata": {"path": str(work)}},
                                on_cell_executed=on_cell_executed)
        stopped = None
        try:
            # the kernel's own start-up chatter (not cell output) is not shown
            with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 1:
                        stopped = f"notebook time limit {_fmt(timeout)} s reached"
                        break
                    limit = min(cell_timeout, remaining) if _is_exercise_cell(cell) else remaining
                    client.timeout = max(1, int(math.floor(limit)))
                    started = time.monotonic()
                    client.execute_cell(cell, index)
                    executed.add(index)
                    reply = replies.get(index, {}).get("content", {})
                    if reply.get("status") == "error":
                        if not any(o.get("output_type") == "error" for o in cell.outputs):
                            cell.outputs.append(nbformat.v4.new_output(
                                "error", ename=reply.get("ename", "Error"),
                                evalue=reply.get("evalue", ""), traceback=reply.get("traceback", [])))
                        if reply.get("ename") == "TimeoutError":
                            where = _nbgrader(cell).get("grade_id") or f"cell {index}"
                            notes.append(f"{_short(where)} interrupted after "
                                         f"{time.monotonic() - started:.0f} s")
                            # is the kernel free again? (code may swallow KeyboardInterrupt)
                            nb.cells.append(nbformat.v4.new_code_cell("pass"))
                            client.timeout = 15
                            try:
                                client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
                            finally:
                                nb.cells.pop()
                            if replies.get(len(nb.cells), {}).get("content", {}).get("status") != "ok":
                                stopped = "kernel did not respond after the interrupt"
                                break
        except DeadKernelError:
            stopped = "kernel died"
        except Exception as exc:  # kernel start-up failures etc. — the run goes on
            stopped = f"execution stopped: {type(exc).__name__}: {exc}"
        if stopped:
            notes.append(stopped + "; cells not run score 0")
    return executed, notes


def _score(nb: NotebookNode, executed: set) -> Tuple[Dict[str, float], Dict[str, float], List[str]]:
    from nbgrader.utils import determine_grade

    scores: Dict[str, float] = {}
    maxima: Dict[str, float] = {}
    failed, manual = [], []
    for index, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if not meta.get("grade"):
            continue
        key = _exercise_key(meta["grade_id"])
        points = float(meta.get("points", 0))
        maxima[key] = maxima.get(key, 0.0) + points
        if cell.cell_type == "code" and index not in executed:
            got = 0.0
            failed.append(f"{_short(meta['grade_id'])} not run")
        else:
            got, _ = determine_grade(cell)
            if got is None:
                manual.append(_short(meta["grade_id"]))
                got = 0.0
            elif got < points and cell.cell_type == "code":
                reason = next((o.get("ename") for o in cell.outputs if o.get("output_type") == "error"),
                              None)
                if reason is None and any(o.get("name") == "stderr" for o in cell.outputs):
                    text = next(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")
                    reason = "stderr: " + (text.strip().splitlines() or [""])[0][:60]
                if reason in ("KeyboardInterrupt", "TimeoutError"):
                    reason = "time limit"
                failed.append(f"{_short(meta['grade_id'])} {reason or 'partial'}")
        scores[key] = scores.get(key, 0.0) + float(got)
    notes = []
    if failed:
        notes.append("failed: " + ", ".join(failed))
    if manual:
        notes.append("needs manual grading (scored 0 here): " + ", ".join(manual))
    return scores, maxima, notes


def _student_name(path: Path, chapter: Path) -> str:
    stem = path.stem
    if stem == chapter.stem or stem.lower() in ("submission", "notebook", "assignment"):
        return path.resolve().parent.name
    return stem


def autograde(chapter: PathLike, submissions: Sequence[PathLike],
              timeout: float = DEFAULT_TIMEOUT, cell_timeout: float = DEFAULT_CELL_TIMEOUT,
              csv_path: Optional[PathLike] = None, out: Optional[PathLike] = None,
              notebooks_dir: Optional[PathLike] = None, quiet: bool = False) -> List[GradeResult]:
    """Grade ``submissions`` of ``chapter``; print the table, write the CSV, return the results.

    Executed notebooks go to ``out/<chapter>/<student>.ipynb`` (default ``autograded/``); the CSV
    to ``csv_path`` (default ``out/<chapter>/scores.csv``)."""
    if isinstance(submissions, (str, os.PathLike)):
        submissions = [submissions]
    if not submissions:
        raise ValueError("submissions must name at least one handed-in notebook")
    chapter = resolve_chapter(chapter, notebooks_dir)
    instructor = read_notebook(chapter)
    if not _has_exercises(instructor):
        raise ValueError(f"{chapter.name} has no nbgrader grade cells")
    student_copy = make_release(instructor, chapter.name)
    out_dir = (Path(out) if out is not None else AUTOGRADED) / chapter.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    maxima = {ex.exercise_id: ex.points for ex in exercise_index(instructor)}
    results: List[GradeResult] = []
    names: Dict[str, int] = {}
    for sub in submissions:
        sub = Path(sub)
        started = time.monotonic()
        name = _student_name(sub, chapter)
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name = f"{name}-{names[name]}"
        try:
            handed = read_notebook(sub)
        except (OSError, ValueError) as exc:
            reason = "file not found" if isinstance(exc, FileNotFoundError) else "unreadable notebook"
            results.append(GradeResult(name, str(sub), {k: 0.0 for k in maxima}, dict(maxima),
                                       [f"{reason}: not executed, all 0"], time.monotonic() - started))
            continue
        nb, notes = build_submission(instructor, handed, student_copy)
        executed, run_notes = execute_notebook(nb, chapter, timeout, cell_timeout)
        scores, _, score_notes = _score(nb, executed)
        from nbgrader.preprocessors import LimitOutput

        nb, _ = LimitOutput().preprocess(nb, {})
        graded = out_dir / f"{name}.ipynb"
        nbformat.write(nb, str(graded))
        results.append(GradeResult(name, str(sub), scores, dict(maxima), notes + run_notes + score_notes,
                                   time.monotonic() - started, graded))
    csv_path = Path(csv_path) if csv_path is not None else out_dir / "scores.csv"
    write_csv(results, csv_path, chapter.stem)
    if not quiet:
        print(f"{chapter.stem}: {len(results)} submission(s)")
        print(format_table(results))
        print(f"CSV: {csv_path}   graded notebooks: {out_dir}")
    return results


def _fmt(x: float) -> str:
    return f"{float(x):g}"


def write_csv(results: Sequence[GradeResult], path: PathLike, chapter: str = "") -> Path:
    """One row per submission: student, submission, chapter, one column per exercise, total,
    max_total, seconds, notes. A first row ``(max)`` holds the points available."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(results[0].max_points) if results else []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "submission", "chapter", *keys, "total", "max_total", "seconds", "notes"])
        if results:
            r0 = results[0]
            writer.writerow(["(max)", "", chapter, *[_fmt(r0.max_points[k]) for k in keys],
                             _fmt(r0.max_total), _fmt(r0.max_total), "", ""])
        for r in results:
            writer.writerow([r.student, r.submission, chapter, *[_fmt(r.scores.get(k, 0)) for k in keys],
                             _fmt(r.total), _fmt(r.max_total), f"{r.seconds:.1f}", "; ".join(r.notes)])
    return path


def format_table(results: Sequence[GradeResult]) -> str:
    """A plain-text table: one row per submission, one column per exercise (header shows the
    points available), total, and notes."""
    if not results:
        return "(no submissions)"
    keys = list(results[0].max_points)
    header = ["student", *[f"{_short(k)} /{_fmt(results[0].max_points[k])}" for k in keys],
              f"total /{_fmt(results[0].max_total)}", "notes"]
    rows = [[r.student, *[_fmt(r.scores.get(k, 0)) for k in keys], _fmt(r.total),
             "; ".join(r.notes) or "-"] for r in results]
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header) - 1)]
    lines = []
    for row in [header] + rows:
        cells = [str(v).ljust(w) for v, w in zip(row[:-1], widths)]
        lines.append(" | ".join(cells + [row[-1]]))
        if row is header:
            lines.append("-+-".join("-" * w for w in widths) + "-+------")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.assignments",
                                     description="Student releases and offline autograding (nbgrader format).")
    sub = parser.add_subparsers(dest="command", required=True)
    p_index = sub.add_parser("index", help="list exercises and points per chapter")
    p_index.add_argument("chapters", nargs="*")
    p_rel = sub.add_parser("release", help="write student copies to release/")
    p_rel.add_argument("chapters", nargs="*")
    p_rel.add_argument("--out", default=None, help="output folder (default: release/)")
    p_auto = sub.add_parser("autograde", help="grade handed-in notebooks of one chapter")
    p_auto.add_argument("chapter")
    p_auto.add_argument("submissions", nargs="+")
    p_auto.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"time limit per notebook in seconds (default {DEFAULT_TIMEOUT:g})")
    p_auto.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                        help=f"time limit per exercise cell in seconds (default {DEFAULT_CELL_TIMEOUT:g})")
    p_auto.add_argument("--csv", default=None, help="CSV path (default autograded/<chapter>/scores.csv)")
    p_auto.add_argument("--out", default=None, help="folder for graded notebooks (default autograded/)")
    args = parser.parse_args(argv)
    try:
        if args.command == "index":
            chapters = [resolve_chapter(c) for c in args.chapters] if args.chapters else find_chapters()
            if not chapters:
                print(f"no chapter notebooks with nbgrader exercises in {NOTEBOOKS}", file=sys.stderr)
                return 1
            print(_index_markdown(chapters), end="")
        elif args.command == "release":
            release(args.chapters or None, out=args.out)
        else:
            autograde(args.chapter, args.submissions, timeout=args.timeout,
                      cell_timeout=args.cell_timeout, csv_path=args.csv, out=args.out)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
