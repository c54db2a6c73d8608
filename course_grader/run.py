"""Stage 5 — run: execute a merged notebook cell by cell with time limits (placeholder port)."""
from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import nbformat
from nbformat.notebooknode import NotebookNode

from .chapters import PathLike, fmt, is_exercise_cell, nbgrader_meta, short

DEFAULT_TIMEOUT = 900.0
DEFAULT_CELL_TIMEOUT = 60.0


def _kernel_manager():
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class _CurrentPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):  # noqa: D401
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_CurrentPython())


def _mirror(chapter: Path, tmp: Path) -> Path:
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


def execute_notebook(nb: NotebookNode, chapter: PathLike, timeout: float = DEFAULT_TIMEOUT,
                     cell_timeout: float = DEFAULT_CELL_TIMEOUT) -> Tuple[set, List[str]]:
    """Execute ``nb`` in place; return ``(indices of executed code cells, notes)``."""
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
            with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 1:
                        stopped = f"notebook time limit {fmt(timeout)} s reached"
                        break
                    limit = min(cell_timeout, remaining) if is_exercise_cell(cell) else remaining
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
                            where = nbgrader_meta(cell).get("grade_id") or f"cell {index}"
                            notes.append(f"{short(where)} interrupted after "
                                         f"{time.monotonic() - started:.0f} s")
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
        except Exception as exc:
            stopped = f"execution stopped: {type(exc).__name__}: {exc}"
        if stopped:
            notes.append(stopped + "; cells not run score 0")
    return executed, notes
