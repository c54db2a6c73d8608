"""pytest plugin: nbval runs the stored notebooks on the one runner's kernel, with its limits.

``make test`` and ``make test-nb`` load it with ``-p course_grader.nbval_plugin``. With it,
nbval's kernel is the kernel ``make execute`` and the grader use (:mod:`course_grader.runner`):

- **kernel:** :func:`runner.kernel_manager` — this virtualenv's own Python over ipc sockets,
  whatever kernelspec the notebook names or ``--nbval-kernel-name`` asks for;
- **environment:** :func:`runner.kernel_env` (``COURSE_OFFLINE=1``, one BLAS/OpenMP thread ...);
- **time limits:** each exercise cell (nbgrader solution or grade) gets
  ``--course-cell-timeout`` (default :data:`runner.CELL_TIMEOUT`), each lesson cell what is left
  of ``--course-notebook-timeout`` (default :data:`runner.NOTEBOOK_TIMEOUT`) counted from the
  notebook's first cell. These replace nbval's single ``--nbval-cell-timeout``. Once the
  notebook's limit is used up, its remaining cells fail with "notebook time limit".
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from . import runner

_RUN_DIRS: list = []


def pytest_addoption(parser):
    group = parser.getgroup("course runner", "the course's notebook runner (course_grader.runner)")
    group.addoption("--course-cell-timeout", type=float, default=runner.CELL_TIMEOUT,
                    help="seconds per exercise cell (default %(default)s, as the grader)")
    group.addoption("--course-notebook-timeout", type=float, default=runner.NOTEBOOK_TIMEOUT,
                    help="seconds per notebook (default %(default)s, as make execute)")


def start_new_kernel(startup_timeout=runner.STARTUP_TIMEOUT, kernel_name=None, **kwargs):
    """nbval's ``start_new_kernel`` with the runner's kernel: returns a started
    ``(KernelManager, BlockingKernelClient)``. ``kernel_name`` is ignored on purpose."""
    run_dir = Path(tempfile.mkdtemp(prefix="nbval-kernel-"))
    _RUN_DIRS.append(run_dir)
    km = runner.kernel_manager(run_dir, asynchronous=False)
    km.start_kernel(env=runner.kernel_env(), cwd=kwargs.get("cwd"), stderr=kwargs.get("stderr"))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=startup_timeout)
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    return km, kc


def pytest_configure(config):
    import nbval.kernel

    for name in ("course_cell_timeout", "course_notebook_timeout"):
        runner.check_seconds("--" + name.replace("_", "-"), getattr(config.option, name))
    original = nbval.kernel.start_new_kernel
    nbval.kernel.start_new_kernel = start_new_kernel
    if hasattr(config.option, "nbval_kernel_startup_timeout"):
        config.option.nbval_kernel_startup_timeout = runner.STARTUP_TIMEOUT

    def restore():
        nbval.kernel.start_new_kernel = original
        while _RUN_DIRS:
            shutil.rmtree(_RUN_DIRS.pop(), ignore_errors=True)

    config.add_cleanup(restore)


def _is_nbval_cell(item) -> bool:
    from nbval.plugin import IPyNbCell

    return isinstance(item, IPyNbCell)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if not _is_nbval_cell(item):
        return
    notebook = item.parent
    started = getattr(notebook, "_course_started", None)
    if started is None:
        started = notebook._course_started = time.monotonic()
    limit = item.config.option.course_notebook_timeout
    remaining = limit - (time.monotonic() - started)
    if remaining <= 1:
        pytest.fail(f"notebook time limit {limit:g} s reached; this cell was not run", pytrace=False)
    item.config.option.nbval_cell_timeout = runner.cell_limit(
        item.cell, remaining, item.config.option.course_cell_timeout)
