"""The one notebook runner: ``make execute``, the grader and the tests all execute notebooks here.

- **Kernel:** always this virtualenv's own Python (``sys.executable -m ipykernel_launcher``),
  never whatever ``python3`` kernelspec a user registered.
- **Environment:** :data:`KERNEL_ENV` (``COURSE_OFFLINE=1``, one BLAS/OpenMP thread, ...).
- **Time limits:** :data:`NOTEBOOK_TIMEOUT` for the whole notebook and :data:`CELL_TIMEOUT` for
  each exercise (solution or test) cell; lesson cells get what is left of the notebook limit.
- **Sockets:** the kernel protocol runs over Unix-domain sockets (``transport="ipc"``) whose
  files sit in the run's folder, so a sandboxed kernel without any network still talks to us.
- **Output cap:** at most :data:`MAX_CELL_OUTPUT` bytes of output are kept per cell; the
  lines of a stream message that contain one of the client's ``keep_text`` strings (the tamper
  check's nonce) are kept past the cap.

:class:`KernelRun` is one kernel (optionally inside a :class:`course_grader.sandbox.Sandbox`);
:func:`execute_in_place` is what ``make execute`` calls; :mod:`course_grader.nbval_plugin` starts
nbval's kernel (the tests of the stored notebooks) with :func:`kernel_manager` and
:func:`kernel_env` and gives its cells the same limits (:func:`cell_limit`).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import nbformat
from nbformat.notebooknode import NotebookNode

NOTEBOOK_TIMEOUT = 900.0
CELL_TIMEOUT = 60.0
STARTUP_TIMEOUT = 120.0
MAX_CELL_OUTPUT = 2_000_000
KERNEL_ENV = {
    "COURSE_OFFLINE": "1",
    "JUPYTER_PLATFORM_DIRS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
TIMEOUT_ERROR = {"ename": "TimeoutError", "evalue": "cell interrupted at its time limit",
                 "traceback": ["TimeoutError: cell interrupted at its time limit"]}


def kernel_argv() -> List[str]:
    """The kernel command: this very Python's ipykernel."""
    return [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def kernel_env(base: Optional[dict] = None) -> Dict[str, str]:
    """The kernel's environment: ``base`` (default ``os.environ``) with :data:`KERNEL_ENV` on top
    and ``JPY_PARENT_PID`` removed."""
    env = dict(os.environ if base is None else base)
    env.update(KERNEL_ENV)
    env.pop("JPY_PARENT_PID", None)
    return env


def kernel_manager(run_dir: Path, *, sandbox=None, asynchronous: bool = True):
    """A kernel manager (not started) for :func:`kernel_argv`, whatever kernelspecs the user has.

    The connection file and, on POSIX, the ipc socket files go into ``run_dir``; with a
    ``sandbox`` the command is wrapped by it. ``asynchronous=False`` gives the blocking manager
    nbval uses."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    argv = kernel_argv()
    interrupt_mode = "signal"
    if sandbox is not None:
        argv = sandbox.wrap(argv)
        interrupt_mode = sandbox.interrupt_mode
    spec = KernelSpec(argv=argv, display_name="course venv", language="python",
                      interrupt_mode=interrupt_mode, env={})

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):  # noqa: D401
            return spec

    kw = {}
    if os.name == "posix":
        kw = {"transport": "ipc", "ip": str(Path(run_dir) / "k")}
    cls = AsyncKernelManager if asynchronous else KernelManager
    km = cls(kernel_name="python3", kernel_spec_manager=_ThisPython(), **kw)
    km.connection_file = str(Path(run_dir) / "kernel.json")
    return km


def cell_limit(cell, remaining: float, cell_timeout: float = CELL_TIMEOUT) -> float:
    """Seconds ``cell`` may run: exercise cells (nbgrader solution or grade) ``cell_timeout``,
    lesson cells whatever is ``remaining`` of the notebook's limit."""
    from .chapters import is_exercise_cell

    return min(cell_timeout, remaining) if is_exercise_cell(cell) else remaining


def check_seconds(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _make_client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """nbclient with an output cap per cell and, for protected cells, no clear_output."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.sizes: Dict[int, int] = {}
            self.truncated: set = set()
            self.no_clear: set = set()
            self.cleared: set = set()
            self.keep_text: set = set()

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            used = self.sizes.get(cell_index, 0) + size
            self.sizes[cell_index] = used
            if used > MAX_CELL_OUTPUT:
                if cell_index not in self.truncated:
                    self.truncated.add(cell_index)
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stdout",
                        text=f"\n[output cut at {MAX_CELL_OUTPUT // 1000} kB by the runner]\n"))
                content = msg.get("content", {})
                text = content.get("text", "") if msg.get("msg_type") == "stream" else ""
                if self.keep_text and isinstance(text, str) and any(k in text for k in self.keep_text):
                    lines = [ln for ln in text.splitlines(keepends=True)
                             if any(k in ln for k in self.keep_text)]
                    outs.append(nbformat.v4.new_output("stream", name=content.get("name", "stdout"),
                                                       text="".join(lines)[:10_000]))
                return None
            return super().output(outs, msg, display_id, cell_index)

        def clear_output(self, outs, msg, cell_index):
            if cell_index in self.no_clear:
                self.cleared.add(cell_index)
                return
            return super().clear_output(outs, msg, cell_index)

    return CappedClient


class KernelRun:
    """One kernel of this Python, started in ``cwd`` (inside ``sandbox`` if given).

    Use as a context manager; on exit the kernel and everything it started are killed."""

    def __init__(self, nb: NotebookNode, cwd: Path, *, sandbox=None, env: Optional[dict] = None,
                 startup_timeout: float = STARTUP_TIMEOUT, run_dir: Optional[Path] = None):
        self.nb = nb
        self.cwd = Path(cwd)
        self.sandbox = sandbox
        self.env = kernel_env(env)
        self.startup_timeout = startup_timeout
        self._own_dir = run_dir is None
        self.run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="kernel-"))
        self.client = None
        self._ctx = None
        self.replies: Dict[int, dict] = {}

    def __enter__(self) -> "KernelRun":
        cls = _make_client_class()
        km = kernel_manager(self.run_dir, sandbox=self.sandbox)
        self.client = cls(self.nb, km=km, timeout=int(CELL_TIMEOUT),
                          startup_timeout=int(self.startup_timeout), allow_errors=True,
                          interrupt_on_timeout=True, error_on_timeout=TIMEOUT_ERROR,
                          shutdown_kernel="immediate", record_timing=False,
                          resources={"metadata": {"path": str(self.cwd)}},
                          on_cell_executed=self._on_cell_executed)
        self._ctx = self.client.setup_kernel(env=self.env, cwd=str(self.cwd),
                                             stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            self._ctx.__enter__()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self._ctx is not None:
                try:
                    self._ctx.__exit__(None, None, None)
                except Exception:  # kernel already gone
                    pass
        finally:
            self._cleanup()

    def _cleanup(self):
        km = getattr(self.client, "km", None)
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                try:
                    proc.kill()
                except OSError:
                    pass
        if self.sandbox is not None:
            self.sandbox.kill_leftovers()
        if self._own_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _on_cell_executed(self, cell, cell_index, execute_reply, **_):
        self.replies[cell_index] = execute_reply

    # -- execution ------------------------------------------------------------------------
    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        try:
            return bool(run_sync(self.client.km.is_alive)())
        except Exception:
            return False

    def run_cell(self, cell: NotebookNode, index: int, timeout: float) -> dict:
        """Execute ``cell`` (outputs stored in it); return the execute_reply content
        (``status`` ``ok``/``error``/``aborted``, ``ename``...). An error reply without an error
        output gets one, so nbgrader's scoring sees it."""
        self.client.timeout = max(1, int(math.floor(timeout)))
        self.replies.pop(index, None)
        self.client.execute_cell(cell, index)
        reply = self.replies.get(index, {}).get("content", {})
        if reply.get("status") == "error" and not any(
                o.get("output_type") == "error" for o in cell.outputs):
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=str(reply.get("ename", "Error")), evalue=str(reply.get("evalue", "")),
                traceback=[str(t) for t in reply.get("traceback", [])][:50]))
        return reply

    def silent(self, code: str, timeout: float = 15) -> Tuple[str, str]:
        """Run ``code`` without history or display; return ``(status, stdout text)``.
        Status is ``timeout`` if no reply came in time."""
        from jupyter_core.utils import run_sync

        return run_sync(self._silent)(code, timeout)

    async def _silent(self, code: str, timeout: float) -> Tuple[str, str]:
        from queue import Empty

        kc = self.client.kc
        msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        out: List[str] = []
        status, idle = "timeout", False
        while time.monotonic() < deadline and not idle:
            try:
                msg = await kc.get_iopub_msg(timeout=max(0.05, deadline - time.monotonic()))
            except Empty:
                break
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream" and msg["content"].get("name") == "stdout":
                out.append(msg["content"].get("text", ""))
                if sum(map(len, out)) > 20_000_000:
                    break
            elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
        while time.monotonic() < deadline:
            try:
                reply = await kc.get_shell_msg(timeout=max(0.05, deadline - time.monotonic()))
            except Empty:
                break
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                status = reply["content"].get("status", "error")
                break
        return status, "".join(out)

    def responsive(self, timeout: float = 15) -> bool:
        """Does the kernel answer a trivial request (after an interrupt)?"""
        status, _ = self.silent("pass", timeout)
        return status == "ok"


def execute_notebook(nb: NotebookNode, cwd: Path, *, timeout: float = NOTEBOOK_TIMEOUT,
                     cell_timeout: float = CELL_TIMEOUT, sandbox=None, run_dir=None,
                     before_cell=None, after_cell=None, env=None) -> Tuple[set, List[str]]:
    """Execute ``nb`` in place, cell by cell; return ``(indices of executed code cells, notes)``.

    Exercise cells (nbgrader solution/grade) get ``cell_timeout``, lesson cells what is left of
    ``timeout``. A cell over its limit is interrupted (an error output ``TimeoutError``); a kernel
    that dies or ignores the interrupt ends the run. ``before_cell(run, index, cell)`` and
    ``after_cell(run, index, cell, reply)`` are the grader's hooks. Never raises for what the
    notebook does: errors, timeouts and a dead kernel end up in the notes."""
    from nbclient.exceptions import DeadKernelError

    from .chapters import fmt, nbgrader_meta, short

    timeout = check_seconds("timeout", timeout)
    cell_timeout = check_seconds("cell_timeout", cell_timeout)
    notes: List[str] = []
    executed: set = set()
    stopped = None
    deadline = time.monotonic() + timeout
    try:
        with KernelRun(nb, cwd, sandbox=sandbox, run_dir=run_dir, env=env) as run:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 1:
                    stopped = f"notebook time limit {fmt(timeout)} s reached"
                    break
                if before_cell is not None:
                    before_cell(run, index, cell)
                limit = cell_limit(cell, remaining, cell_timeout)
                started = time.monotonic()
                reply = run.run_cell(cell, index, limit)
                executed.add(index)
                if index in run.client.truncated:
                    where = nbgrader_meta(cell).get("grade_id") or f"cell {index}"
                    notes.append(f"{short(where)} output cut at {MAX_CELL_OUTPUT // 1000} kB")
                timed_out = reply.get("ename") == "TimeoutError"
                if timed_out:
                    where = nbgrader_meta(cell).get("grade_id") or f"cell {index}"
                    notes.append(f"{short(where)} interrupted after {time.monotonic() - started:.0f} s")
                    if not run.responsive():
                        stopped = "kernel did not respond after the interrupt"
                        break
                if after_cell is not None:
                    after_cell(run, index, cell, reply)
                if not run.alive():
                    stopped = "kernel died"
                    break
    except DeadKernelError:
        stopped = "kernel died"
    except Exception as exc:  # kernel start-up failures etc.
        stopped = f"execution stopped: {type(exc).__name__}: {exc}"
    if stopped:
        notes.append(stopped + "; cells not run score 0")
    return executed, notes


def execute_in_place(path: Path, *, timeout: float = NOTEBOOK_TIMEOUT,
                     cell_timeout: float = CELL_TIMEOUT) -> float:
    """``make execute`` for one notebook: run it in ``path``'s folder with this venv's kernel,
    store outputs and the course kernelspec. Raises ``RuntimeError`` (file left unchanged) if a
    cell fails or times out. Returns the seconds it took."""
    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("jupytext", None)
    start = time.perf_counter()
    failures: List[str] = []

    def after(run, index, cell, reply):
        if reply.get("status") != "ok" and "raises-exception" not in cell.metadata.get("tags", []):
            failures.append(f"cell {index}: {reply.get('ename', reply.get('status'))}: "
                            f"{reply.get('evalue', '')}")
            raise _Stop()

    executed, notes = execute_notebook(nb, path.parent.resolve(), timeout=timeout,
                                       cell_timeout=cell_timeout, after_cell=after)
    if failures or notes:
        raise RuntimeError(f"{path}: " + "; ".join(failures + [n for n in notes if "_Stop" not in n]))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata.pop("execution", None)
    nbformat.write(nb, str(path))
    return time.perf_counter() - start


class _Stop(Exception):
    pass


def notebooks_in(args: Sequence[str], default: Path) -> List[Path]:
    """Chapter notebooks named by ``args`` (files or folders; folders give ``NN_*.ipynb``)."""
    targets = [Path(a) for a in args] or [default]
    found: List[Path] = []
    for t in targets:
        found.extend(sorted(t.glob("[0-9][0-9]_*.ipynb")) if t.is_dir() else [t])
    return found
