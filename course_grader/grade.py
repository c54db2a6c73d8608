"""The pipeline for one chapter: intake → validate → merge → run → score → report.

1. **intake** copies every submission into a grader-private folder (mode 0700) and records its
   SHA-256 before anything runs; later stages read only the copy.
2. **validate** (:mod:`course_grader.validate`) turns the untrusted JSON into clean cells.
3. **merge** (:mod:`course_grader.merge`) puts the solution cells into the instructor copy.
4. **run** (:mod:`course_grader.run`) executes it in its own sandbox with tamper checks.
5. **score** (:mod:`course_grader.score`) applies nbgrader's rule.
6. **report** (:mod:`course_grader.report`) writes the CSV row by row and prints the table.

Any exception while grading one submission gives it 0 with a note naming the file; the batch
always finishes. ``jobs`` submissions are graded at once, each in its own worker process and
sandbox; the grader's own process never runs a submission, and a worker that dies costs only the
submission that killed it (the others are graded again).
"""
from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool
import hashlib
import multiprocessing
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import nbformat

from .chapters import REPO, PathLike, exercise_index, has_exercises, read_notebook, resolve_chapter
from .merge import build_submission
from .release import student_edition
from .report import CsvWriter, GradeResult, clean, format_table
from .run import DEFAULT_CELL_TIMEOUT, DEFAULT_TIMEOUT, run_submission, use_sandbox
from .runner import check_seconds
from .sandbox import Limits, cgroup_problem
from .score import score_notebook
from .validate import MAX_BYTES, load_submission

AUTOGRADED = REPO / "autograded"
MAX_STORED_OUTPUT = 10_000  # characters per output kept in the graded notebook (nbgrader LimitOutput)


def student_name(path: Path, chapter: Path) -> str:
    stem = path.stem
    if stem == chapter.stem or stem.lower() in ("submission", "notebook", "assignment"):
        return path.resolve().parent.name
    return stem


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass
class Task:
    """One submission to grade (everything a worker process needs)."""

    index: int
    name: str
    original: str          # the path as given (for the CSV)
    copy: Optional[str]    # the grader-private copy, None if it could not be read
    sha256: str
    intake_note: str
    chapter: str
    graded_path: str
    timeout: float
    cell_timeout: float
    sandbox: bool
    scratch: str
    jobs: int = 1          # sandboxes running at once (they share the RAM)


def intake(submissions: Sequence[Path], private: Path) -> List[tuple]:
    """Copy and hash each submission into ``private``; ``[(copy or None, sha256, note)]``.

    Only regular files are taken, opened without following a symlink in the last path component
    (a link to the instructor's notebook is not a hand-in) and without blocking (a FIFO cannot
    hang the batch); a file over :data:`course_grader.validate.MAX_BYTES` is not copied."""
    rows = []
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    for i, sub in enumerate(submissions):
        target = private / f"{i:04d}.ipynb"
        try:
            fd = os.open(sub, flags)
        except FileNotFoundError:
            rows.append((None, "", "file not found: not executed, all 0"))
            continue
        except OSError as exc:
            why = "a symbolic link" if os.path.islink(sub) else f"unreadable ({type(exc).__name__})"
            rows.append((None, "", f"{why}: not executed, all 0"))
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                rows.append((None, "", "not a regular file: not executed, all 0"))
                continue
            if info.st_size > MAX_BYTES:
                rows.append((None, "", f"larger than {MAX_BYTES // 1024 ** 2} MB: not executed, all 0"))
                continue
            os.set_blocking(fd, True)
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "rb", closefd=False) as src, open(target, "wb") as dst:
                while True:
                    block = src.read(1 << 20)
                    if not block:
                        break
                    size += len(block)
                    if size > MAX_BYTES:
                        raise OSError("grew past the size limit while being read")
                    digest.update(block)
                    dst.write(block)
            os.chmod(target, 0o600)
            rows.append((str(target), digest.hexdigest(), ""))
        except OSError as exc:
            target.unlink(missing_ok=True)
            rows.append((None, "", f"unreadable file ({type(exc).__name__}): not executed, all 0"))
        finally:
            os.close(fd)
    return rows


def _die_with_parent() -> None:
    """Pool worker initializer: on Linux, the worker is killed when the grader dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except OSError:
            pass


def grade_one(task: Task) -> GradeResult:
    """Grade one submission; never raises (an internal error gives 0 and a note)."""
    started = time.monotonic()
    chapter = Path(task.chapter)
    instructor = read_notebook(chapter)
    maxima = {ex.exercise_id: ex.points for ex in exercise_index(instructor)}
    zero = {k: 0.0 for k in maxima}

    def result(scores, notes, graded=None):
        return GradeResult(task.name, task.original, scores, dict(maxima), notes,
                           time.monotonic() - started, graded, task.sha256)

    if task.copy is None:
        return result(zero, [task.intake_note])
    try:
        try:
            handed, notes = load_submission(Path(task.copy))
        except ValueError as exc:
            return result(zero, [f"unreadable notebook ({exc}): not executed, all 0"])
        student = student_edition(instructor, name=chapter.name)
        nb, merge_notes = build_submission(instructor, handed, student)
        limits = Limits.for_jobs(task.jobs) if task.sandbox else None
        outcome = run_submission(nb, chapter, timeout=task.timeout, cell_timeout=task.cell_timeout,
                                 sandbox=task.sandbox, slot=task.index, scratch=Path(task.scratch),
                                 limits=limits, instructor=instructor)
        scores, _, score_notes = score_notebook(nb, outcome.executed, outcome.rejected)
        from nbgrader.preprocessors import LimitOutput

        nb, _ = LimitOutput(max_lines=200, max_traceback=100).preprocess(nb, {})
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if isinstance(out.get("text"), str) and len(out["text"]) > MAX_STORED_OUTPUT:
                    out["text"] = out["text"][:MAX_STORED_OUTPUT] + "\n[cut]\n"
        graded = Path(task.graded_path)
        nbformat.write(nb, str(graded))
        return result(scores, notes + merge_notes + outcome.notes + score_notes, graded)
    except Exception as exc:  # the batch goes on
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return result(zero, [f"grader error on {Path(task.original).name}: {detail}; all 0"])


def _worker_died(task: Task, maxima: dict, exc: BaseException) -> GradeResult:
    return GradeResult(task.name, task.original, {k: 0.0 for k in maxima}, dict(maxima),
                       [f"grader error on {Path(task.original).name}: the grading process died "
                        f"({type(exc).__name__}); all 0"], 0.0, None, task.sha256)


def _grade_in_workers(tasks: List[Task], jobs: int, record, maxima: dict, work=None) -> None:
    """Grade ``tasks`` in ``jobs`` worker processes (never in the grader's own process), calling
    ``record(task, result)`` as each finishes.

    If a worker dies (the pool breaks), every unfinished submission is graded again alone in a
    fresh one-worker pool, so only a submission that kills its own worker again gets 0.
    ``work`` (default :func:`grade_one`) is what each worker runs on a task."""
    work = grade_one if work is None else work
    ctx = multiprocessing.get_context("spawn")

    def pool(n):
        return cf.ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_die_with_parent)

    unfinished: List[Task] = []
    with pool(jobs) as executor:
        futures = {executor.submit(work, t): t for t in tasks}
        for future in cf.as_completed(futures):
            task = futures[future]
            try:
                record(task, future.result())
            except BrokenProcessPool:
                unfinished.append(task)
            except Exception as exc:  # noqa: BLE001 — the batch goes on
                record(task, _worker_died(task, maxima, exc))
    for task in sorted(unfinished, key=lambda t: t.index):
        with pool(1) as executor:
            try:
                record(task, executor.submit(work, task).result())
            except Exception as exc:  # noqa: BLE001
                record(task, _worker_died(task, maxima, exc))


SHM = Path("/dev/shm")


def _scratch_folder(private: Path, sandboxed: bool) -> Path:
    """Where each sandbox's folder goes (only its ``run/`` — connection file and sockets — is
    writable from inside). In RAM (``/dev/shm``) when every sandbox has a memory cgroup, so what
    a kernel writes there counts against its own memory limit instead of filling the host's
    disk; else inside the grader's private folder."""
    if sandboxed and cgroup_problem() is None and SHM.is_dir() and os.access(SHM, os.W_OK | os.X_OK):
        folder = Path(tempfile.mkdtemp(prefix="grader-scratch-", dir=SHM))
    else:
        folder = private / "scratch"
        folder.mkdir()
    os.chmod(folder, 0o711)
    return folder


def autograde(chapter: PathLike, submissions: Sequence[PathLike],
              timeout: float = DEFAULT_TIMEOUT, cell_timeout: float = DEFAULT_CELL_TIMEOUT,
              csv_path: Optional[PathLike] = None, out: Optional[PathLike] = None,
              notebooks_dir: Optional[PathLike] = None, quiet: bool = False,
              jobs: Optional[int] = None, sandbox: Optional[bool] = None) -> List[GradeResult]:
    """Grade ``submissions`` of ``chapter``; print the table, write the CSV, return the results
    in the order given.

    Executed notebooks go to ``out/<chapter>/<student>.ipynb`` (default ``autograded/``), the CSV
    to ``csv_path`` (default ``out/<chapter>/scores.csv``). ``jobs``: submissions graded at once
    (default: number of cores). ``sandbox``: ``None`` = bubblewrap when available (else a warning;
    under ``CI=true`` an error), ``True`` = required, ``False`` = off."""
    if isinstance(submissions, (str, os.PathLike)):
        submissions = [submissions]
    if not submissions:
        raise ValueError("submissions must name at least one handed-in notebook")
    check_seconds("timeout", timeout)
    check_seconds("cell_timeout", cell_timeout)
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    chapter = resolve_chapter(chapter, notebooks_dir).resolve()
    instructor = read_notebook(chapter)
    if not has_exercises(instructor):
        raise ValueError(f"{chapter.name} has no nbgrader grade cells")
    student_edition(instructor, name=chapter.name)  # refuse a chapter that would leak
    sandboxed = use_sandbox(sandbox)
    out_dir = (Path(out) if out is not None else AUTOGRADED) / chapter.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    maxima = {ex.exercise_id: ex.points for ex in exercise_index(instructor)}
    csv_path = Path(csv_path) if csv_path is not None else out_dir / "scores.csv"
    subs = [Path(s) for s in submissions]
    names: Dict[str, int] = {}
    private = Path(tempfile.mkdtemp(prefix="grader-"))
    os.chmod(private, 0o700)
    scratch = _scratch_folder(private, sandboxed)
    try:
        (private / "in").mkdir()
        tasks = []
        for i, (sub, (copy, digest, note)) in enumerate(zip(subs, intake(subs, private / "in"))):
            base = clean(student_name(sub, chapter), 60).replace("/", "_") or f"submission{i}"
            name, k = base, 1
            while name in names:  # kim, kim-2, kim-3 ... never two rows or files with one name
                k += 1
                name = f"{base}-{k}"
            names[name] = 1
            tasks.append(Task(i, name, str(sub), copy, digest, note, str(chapter),
                              str(out_dir / f"{name}.ipynb"), float(timeout), float(cell_timeout),
                              sandboxed, str(scratch), min(jobs, len(subs))))
        results: List[Optional[GradeResult]] = [None] * len(tasks)
        with CsvWriter(csv_path, chapter.stem, maxima) as writer:
            written = 0

            def flush():
                nonlocal written
                while written < len(results) and results[written] is not None:
                    writer.write(results[written])
                    written += 1

            def record(task, result):
                results[task.index] = result
                flush()

            _grade_in_workers(tasks, min(jobs, len(tasks)), record, maxima)
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    final = [r for r in results if r is not None]
    if not quiet:
        print(f"{chapter.stem}: {len(final)} submission(s)"
              + ("" if sandboxed else "  [NOT SANDBOXED]"))
        print(format_table(final))
        print(f"CSV: {csv_path}   graded notebooks: {out_dir}")
    return final
