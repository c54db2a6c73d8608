"""Stage 5 — run: execute one merged submission in its own sandbox, with the tamper checks.

:func:`run_submission` lays out a private work folder (``notebooks/`` as the working directory,
``data/``), starts the kernel inside :class:`course_grader.sandbox.Sandbox` (or, where bubblewrap
is unavailable, :class:`~course_grader.sandbox.Unsandboxed` with a loud warning), executes the
cells with :func:`course_grader.runner.execute_notebook` and the :class:`TamperGuard` hooks, and
removes the folder. The notebook being graded never exists on disk inside the sandbox.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from nbformat.notebooknode import NotebookNode

from .chapters import nbgrader_meta, read_notebook
from .runner import CELL_TIMEOUT, NOTEBOOK_TIMEOUT, check_seconds, execute_notebook
from .sandbox import Limits, Sandbox, Unsandboxed, in_ci, sandbox_problem, warn_if_no_cgroup
from .tamper import TamperGuard

DEFAULT_TIMEOUT = NOTEBOOK_TIMEOUT
DEFAULT_CELL_TIMEOUT = CELL_TIMEOUT
WARNING = ("WARNING: student code is NOT isolated ({why}). It runs with your user's rights and "
           "can read and change your files. Install bubblewrap (sudo apt-get install -y "
           "bubblewrap) to sandbox it.")


@dataclass
class RunOutcome:
    executed: set
    notes: List[str]
    rejected: Dict[int, str] = field(default_factory=dict)
    sandboxed: bool = True


def use_sandbox(requested: Optional[bool] = None) -> bool:
    """Sandbox if possible (``requested=None``), or as requested. Asking for it where it cannot
    work raises ``RuntimeError``; so does its absence under ``CI=true``."""
    problem = sandbox_problem()
    if requested is False:
        return False
    if problem is None:
        warn_if_no_cgroup()  # one line, once per batch: limits are then per process only
        return True
    if requested or in_ci():
        raise RuntimeError(f"the grader sandbox is not available: {problem}")
    print(WARNING.format(why=problem), file=sys.stderr)
    return False


def data_dir_for(chapter: Path) -> Optional[Path]:
    """The data folder the sandbox mounts read-only (what the chapters read as ``../data``):
    ``COURSE_DATA_DIR`` if set, else ``data/`` next to the chapter's folder (the repository's
    layout ``notebooks/`` + ``data/``), else the ``data/`` beside the ``course_utils`` package.
    Never the chapter's own folder: ``None`` when there is no data folder. A folder that
    contains the chapter notebook raises ``RuntimeError`` (mounting it would hand the
    instructor's copy to every student)."""
    import os

    from .sandbox import course_utils_dir

    chapter = Path(chapter).resolve()
    configured = os.environ.get("COURSE_DATA_DIR")
    if configured:
        candidates = [Path(configured)]
    else:
        candidates = [chapter.parent.parent / "data", course_utils_dir().parent / "data"]
    for folder in candidates:
        if folder.is_dir():
            folder = folder.resolve()
            if folder in chapter.parents:
                raise RuntimeError(f"the data folder {folder} contains the chapter notebook "
                                   f"{chapter.name}; it would be visible to student code")
            return folder
    return None


def run_submission(nb: NotebookNode, chapter: Path, *, timeout: float = DEFAULT_TIMEOUT,
                   cell_timeout: float = DEFAULT_CELL_TIMEOUT, sandbox: bool = True, slot: int = 0,
                   limits: Optional[Limits] = None, scratch: Optional[Path] = None,
                   instructor: Optional[NotebookNode] = None) -> RunOutcome:
    """Execute merged notebook ``nb`` (outputs stored in it) in a fresh private folder.
    ``instructor`` (the chapter's own notebook) tells the tamper guard which names the
    solutions are meant to bind (default: read from ``chapter``)."""
    check_seconds("timeout", timeout)
    check_seconds("cell_timeout", cell_timeout)
    work = Path(tempfile.mkdtemp(prefix="box-", dir=scratch))
    box = None
    try:
        kind = Sandbox if sandbox else Unsandboxed
        data = data_dir_for(chapter)
        if data is None:  # no data folder: an empty one, so the layout stays the same
            data = work / "no-data"
            data.mkdir()
        box = kind(work / "w", data, limits=limits, slot=slot)
        if instructor is None:
            instructor = read_notebook(Path(chapter))
        guard = TamperGuard(lambda c: bool(nbgrader_meta(c).get("solution")) and c.cell_type == "code",
                            lambda c: bool(nbgrader_meta(c).get("grade")) and c.cell_type == "code",
                            instructor=instructor)
        env = box.env()
        executed, notes = execute_notebook(nb, box.cwd, timeout=timeout, cell_timeout=cell_timeout,
                                           sandbox=box, run_dir=box.run_dir, env=env,
                                           before_cell=guard.before_cell, after_cell=guard.after_cell)
        guard.restore(nb)
        box.kill_leftovers()
        if getattr(box, "cgroup_entered", None) is False:
            notes.append("the kernel ran without its cgroup: limits were per process only")
        return RunOutcome(executed, guard.notes + notes, dict(guard.rejected), sandbox)
    finally:
        if box is not None:
            box.kill_leftovers()
            box.release()
        shutil.rmtree(work, ignore_errors=True)
