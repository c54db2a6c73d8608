"""Tamper checks between a student's cells and the test cells.

Two checks, both decided on the grader's side:

1. **Fingerprint.** Just before the first solution cell, the grader silently (no history, no
   output in the notebook) asks the kernel for a fingerprint of everything a test's verdict
   depends on: IPython's input/AST transformers, the builtins, ``sys.excepthook`` /
   ``displayhook`` / ``stdout`` / ``stderr`` / trace and import hooks, IPython's custom exception
   handlers and (instance or class) method overrides, the kernel's message handlers, event
   callbacks, and the functions of the libraries the tests use (``numpy``, ``math``, ``torch``,
   ``course_utils`` ...). Before every test cell it asks again; any difference rejects that test.
2. **Nonce.** Each test cell is sent with a last line printing a fresh random nonce. A test
   that reports success without printing its nonce did not run as written (for example an
   input transformer turned it into ``pass``) and is rejected. The nonce line is removed from
   the stored outputs.

These are in-process checks: code running in the same interpreter can, with enough effort,
defeat them (for example a thread that patches and restores in between). The sandbox, not these
checks, is what protects the machine, the other submissions and the grades.
"""
from __future__ import annotations

import json
import secrets
from typing import Dict, List, Optional, Tuple

MONITORED_MODULES = ("builtins", "numpy", "numpy.testing", "numpy.linalg", "math", "cmath",
                     "operator", "functools", "torch", "torch.nn.functional", "torch.testing",
                     "torch.autograd", "unittest", "sklearn.metrics", "pandas")
MONITORED_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("numpy", "ndarray"))
ALLOWED_CALLBACK_MODULES = ("matplotlib", "matplotlib_inline", "IPython", "ipykernel",
                            "ipywidgets", "comm")

_FINGERPRINT = r'''
import sys, json
fp = {}
def ident(v):
    f, o = getattr(v, "__func__", None), getattr(v, "__self__", None)
    if f is not None and o is not None and type(v).__name__ == "method":
        return "method:" + str(id(f)) + "@" + str(id(o))
    return type(v).__qualname__ + ":" + str(id(v))
def callables(prefix, mapping):
    for k, v in list(mapping.items()):
        if callable(v) or isinstance(v, (staticmethod, classmethod, property)):
            fp[prefix + k] = ident(v)
B = sys.modules["builtins"]
for k, v in list(vars(B).items()):
    if k not in ("_", "__", "___"):
        fp["builtins." + k] = ident(v)
for name in ("excepthook", "displayhook", "stdout", "stderr", "stdin", "breakpointhook",
             "unraisablehook"):
    fp["sys." + name] = ident(getattr(sys, name, None))
fp["sys.gettrace()"] = ident(sys.gettrace())
fp["sys.getprofile()"] = ident(sys.getprofile())
fp["sys.meta_path"] = [ident(x) for x in sys.meta_path]
fp["sys.path_hooks"] = [ident(x) for x in sys.path_hooks]
callables("sys.", {k: getattr(sys, k) for k in ("exit", "settrace", "setprofile")})
ipm = sys.modules.get("IPython")
ip = ipm.get_ipython() if ipm is not None else None
if ip is not None:
    fp["ip.input_transformers_cleanup"] = [ident(x) for x in ip.input_transformers_cleanup]
    fp["ip.input_transformers_post"] = [ident(x) for x in ip.input_transformers_post]
    fp["ip.ast_transformers"] = [ident(x) for x in ip.ast_transformers]
    m = ip.input_transformer_manager
    for attr in ("cleanup_transforms", "line_transforms", "token_transformers"):
        fp["ip.input_transformer_manager." + attr] = [ident(x) for x in getattr(m, attr, [])]
    fp["ip.custom_exceptions"] = repr(ip.custom_exceptions)
    fp["ip.CustomTB"] = ident(getattr(ip, "CustomTB", None))
    fp["ip.displayhook"] = ident(ip.displayhook)
    fp["ip.display_pub"] = ident(ip.display_pub)
    fp["ip.compile"] = ident(ip.compile)
    fp["ip.compile.flags"] = str(getattr(ip.compile, "flags", None))
    fp["ip.user_ns"] = ident(ip.user_ns)
    callables("ip.attr.", {k: v for k, v in vars(ip).items() if not isinstance(v, type)})
    for cls in type(ip).__mro__:
        callables("ip.class." + cls.__name__ + ".", vars(cls))
    kernel = getattr(ip, "kernel", None)
    if kernel is not None:
        callables("kernel.attr.", {k: v for k, v in vars(kernel).items() if not isinstance(v, type)})
        for cls in type(kernel).__mro__:
            callables("kernel.class." + cls.__name__ + ".", vars(cls))
        callables("kernel.shell_handlers.", dict(getattr(kernel, "shell_handlers", {})))
        session = getattr(kernel, "session", None)
        if session is not None:
            for cls in type(session).__mro__:
                callables("session.class." + cls.__name__ + ".", vars(cls))
            callables("session.attr.", {k: v for k, v in vars(session).items() if not isinstance(v, type)})
    for event, cbs in ip.events.callbacks.items():
        fp["ip.events." + event] = sorted(
            ident(c) for c in cbs
            if not str(getattr(c, "__module__", "") or "").split(".")[0] in ALLOWED)
for name in MODULES:
    mod = sys.modules.get(name)
    if mod is not None and name != "builtins":
        fp["module." + name] = ident(mod)
        callables(name + ".", vars(mod))
for modname, clsname in CLASSES:
    mod = sys.modules.get(modname)
    cls = getattr(mod, clsname, None) if mod is not None else None
    if isinstance(cls, type):
        callables(modname + "." + clsname + ".", vars(cls))
for name, mod in list(sys.modules.items()):
    if name == "course_utils" or name.startswith("course_utils."):
        callables(name + ".", vars(mod))
print(NONCE + json.dumps(fp))
'''


def fingerprint_code(nonce: str) -> str:
    """The silent request: a single expression that leaves no names in the user namespace."""
    src = (f"MODULES = {MONITORED_MODULES!r}\nCLASSES = {MONITORED_CLASSES!r}\n"
           f"ALLOWED = {ALLOWED_CALLBACK_MODULES!r}\nNONCE = {nonce!r}\n" + _FINGERPRINT)
    return f"__import__('builtins').exec({src!r}, {{'__name__': '__grader__'}})"


def take_fingerprint(run, timeout: float = 30) -> Tuple[Optional[dict], str]:
    """Ask ``run`` (a :class:`course_grader.runner.KernelRun`) for its fingerprint.
    Returns ``(fingerprint, "")`` or ``(None, why not)``."""
    nonce = "fp-" + secrets.token_hex(12) + ":"
    status, out = run.silent(fingerprint_code(nonce), timeout)
    if status != "ok":
        return None, f"grader check got no answer ({status})"
    for line in out.splitlines():
        if line.startswith(nonce):
            try:
                value = json.loads(line[len(nonce):])
            except ValueError:
                break
            if isinstance(value, dict):
                return value, ""
    return None, "grader check got no valid answer (cell input rewritten or stdout replaced)"


def compare(baseline: dict, current: dict, limit: int = 4) -> List[str]:
    """What changed from ``baseline`` to ``current`` (changed or removed entries; for lists,
    any difference). Human-readable, at most ``limit`` items plus a count."""
    changes = []
    for key, before in baseline.items():
        after = current.get(key)
        if after is None:
            changes.append(f"{key} removed")
        elif after != before:
            if isinstance(before, list):
                changes.append(f"{key} changed ({len(before)} -> {len(after)})")
            else:
                changes.append(f"{key} replaced")
    for key, after in current.items():  # new hooks / transformers / events
        if key not in baseline and isinstance(after, list) and after:
            changes.append(f"{key} added")
    if len(changes) > limit:
        changes = changes[:limit] + [f"and {len(changes) - limit} more"]
    return changes


def new_nonce() -> str:
    return "nonce-" + secrets.token_hex(16)


def nonce_line(nonce: str) -> str:
    return f"\nprint({nonce!r})"


def strip_nonce(cell, nonce: str) -> bool:
    """Remove the nonce line from ``cell``'s stdout outputs; return whether it was there."""
    found = False
    kept = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout" and nonce in out.get("text", ""):
            lines = out["text"].splitlines(keepends=True)
            rest = [ln for ln in lines if ln.strip() != nonce]
            found = found or len(rest) < len(lines)
            out["text"] = "".join(rest)
            if not out["text"]:
                continue
        kept.append(out)
    cell["outputs"] = kept
    return found


class TamperGuard:
    """The grader's hooks for :func:`course_grader.runner.execute_notebook`.

    ``rejected`` maps grade-cell indices to the reason; ``notes`` is the "tampering: ..." list."""

    def __init__(self, is_solution, is_test):
        self.is_solution = is_solution
        self.is_test = is_test
        self.baseline: Optional[dict] = None
        self.baseline_problem = ""
        self.rejected: Dict[int, str] = {}
        self.reasons: List[str] = []
        self._nonce: Dict[int, Tuple[str, str]] = {}

    def _reject(self, index: int, reason: str) -> None:
        self.rejected[index] = reason
        if reason not in self.reasons:
            self.reasons.append(reason)

    def before_cell(self, run, index, cell) -> None:
        if self.baseline is None and not self.baseline_problem and self.is_solution(cell):
            self.baseline, problem = take_fingerprint(run)
            self.baseline_problem = problem or ""
            if self.baseline is None:
                self.baseline_problem = self.baseline_problem or "no baseline"
        if self.is_test(cell):
            if self.baseline is not None:
                current, problem = take_fingerprint(run)
                if current is None:
                    self._reject(index, problem)
                else:
                    changes = compare(self.baseline, current)
                    if changes:
                        self._reject(index, ", ".join(changes))
            if run.client is not None:
                run.client.no_clear.add(index)
            nonce = new_nonce()
            self._nonce[index] = (nonce, cell.source)
            cell.source = cell.source + nonce_line(nonce)

    def after_cell(self, run, index, cell, reply) -> None:
        if index not in self._nonce:
            return
        nonce, source = self._nonce.pop(index)
        cell.source = source
        printed = strip_nonce(cell, nonce)
        if reply.get("status") == "ok" and not printed:
            self._reject(index, "test cell reported success without running to its end")
        if run.client is not None and index in run.client.cleared:
            self._reject(index, "output cleared during a test cell")

    def restore(self, nb) -> None:
        """Put back the source of a test cell whose run never finished."""
        for index, (nonce, source) in list(self._nonce.items()):
            nb.cells[index].source = source
            strip_nonce(nb.cells[index], nonce)
        self._nonce.clear()

    @property
    def notes(self) -> List[str]:
        return [f"tampering: {r}" for r in self.reasons]
