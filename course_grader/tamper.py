"""Tamper checks between a student's cells and the test cells.

Three checks, all decided on the grader's side:

1. **Fingerprint.** The grader silently (no history, no output in the notebook) asks the kernel
   for a fingerprint of everything a test's verdict depends on: IPython's input/AST
   transformers, the builtins, ``sys.excepthook`` / ``displayhook`` / ``stdout`` / ``stderr`` /
   trace and import hooks, IPython's custom exception handlers and (instance or class) method
   overrides, the kernel's message handlers, every event callback (by identity, whatever its
   ``__module__`` says), and the functions of the libraries the tests use (``numpy`` and the
   ``numpy._core`` modules its checks call, ``math``, ``torch``, ``json``, ``course_utils``
   ...). A Python function is recorded by its identity *and* its ``__code__`` (so a swapped
   ``f.__code__`` shows). The probe is sent before the first solution cell (the baseline),
   right before and right after every solution cell, and before every test cell, so each change
   is attributed to the cells that ran in between: a student's solution cell or the
   instructor's (trusted) lesson and test cells.

   The fingerprint also covers the compile path (``vars()`` of every class in the MRO of
   ``type(ip.compile)`` and ``type(ip.input_transformer_manager)`` and of both instances, and
   the identity of those objects and of ``ip.ast_transformers``), ``ip.compile.flags`` without
   the ``__future__`` feature bits (``from __future__ import annotations`` is honest), and,
   once torch is loaded, the depth of its function-mode and dispatch-mode stacks (an entered
   ``TorchFunctionMode`` can make ``torch.allclose`` say yes).

   - Library functions, hooks and transformers must keep their baseline identity (a change
     anywhere rejects the later tests). A change made while only lesson/test (trusted) cells
     ran since the previous probe is adopted as the new baseline; a change a solution cell made
     is not laundered by a later lesson cell (only a change between two probes is adopted).
     Entries that appear later (a module first imported later) are adopted when a trusted cell
     brought them; when a solution cell brought them, a function compiled in a notebook cell
     there counts as tampering (and torch's mode stacks must be empty). Monitored modules that
     any cell of the notebook imports (static import statements, the student's included) are
     imported by the baseline probe itself, so their pristine identities are recorded before
     any student code runs.
   - Event callbacks a solution cell adds are rejected, except matplotlib's/IPython's own
     module-level functions (checked by looking them up in their module, not by ``__module__``).
   - **Names in the notebook namespace.** A test cell's names are the module-level names it
     reads and never assigns or imports itself, plus the global names read in its lambdas,
     comprehensions and nested functions (by :mod:`symtable`; never their parameters or
     locals), plus, transitively, the global names read in the lesson functions and classes
     they call (not those functions' parameters or locals); minus the names the instructor's
     solution cells bind (``instructor=``; without it, the names no lesson or test cell binds
     are the solution's). A name's trusted value is the one it had before the first solution
     cell, or what the last lesson/test cell that binds it (by its source's AST) left; a later
     lesson cell that does not bind a name does not launder it. **Only code is protected**:
     a name whose trusted value is a module, a class or a callable (function, method, builtin
     or library function) must keep it. Modules and library callables are compared by
     identity; a Python function by its code (bytecode, constants, names, defaults), so an
     identical redefinition of a lesson function passes and a changed one ("tampering:
     sigmoid rebound") or a swapped ``__code__`` is caught; a notebook class by its methods'
     code. A name whose trusted value is **data** (arrays, numbers, lists, model instances) may
     be rebound: recomputing ``W1, b1 = ...`` or ``out = ...`` in a solution is honest, and
     **changing the lesson's data or expected values is not detected** (as in-place changes,
     ``expected[:] = ...``, never were). A builtin's name (``abs``, ``sum``, ``max``) may be
     rebound to a library's function (``from numpy import *``, ``from torch import *``) or to
     data, but not to a function, lambda, class or instance of a class compiled in a notebook
     cell, unless a lesson/test cell bound it (then it is compared as above); ``__builtins__``
     must keep its identity. A test that reads a name rebound against these rules is rejected
     ("tampering: abs rebound"), even if the student meant no harm (``def max(...)`` of their
     own, read by a later test).
2. **Nonce.** Each test cell is sent with last lines printing a fresh random nonce only if
   ``assert False`` still raises (``try: assert False`` / ``except AssertionError:
   print(nonce)``). A test that reports success without printing its nonce did not run as
   written (an input transformer turned it into ``pass``, or a patched compiler or transformer
   stripped or rewrote its asserts) and is rejected. The nonce line is removed from
   the stored outputs, and the runner's output cap always lets it through. The nonce is not a
   secret from the code the test itself calls (it can read the cell's source from ``In`` or its
   caller's frame); it only proves the cell ran to its end.
3. **Output clearing** during a test cell is refused and rejects the test.

If the baseline probe gets no answer (a very loaded machine), it is retried once with a longer
time limit; if that fails too the checks are off for this submission and the notes say
"tamper check unavailable: ..." so the instructor can regrade it. An honest student does not
lose points to a slow machine; the baseline runs before any student code, so a student cannot
cause this. A later probe that fails (also retried once) rejects the test it guards.

**Limits.** These are in-process checks: the probe runs in the very interpreter the student's
code controls, and its source is visible to that code. Code written against the checker itself
(a thread that patches and restores between probes, a replaced ``sys.stdout`` that rewrites the
probe's answer, patched ``id``/``repr`` lying to the probe, a finalizer or an unmonitored library
function that patches later, while a lesson cell runs, changes to objects or closures rather than
names, helper modules the probe does not list) can defeat them. They stop the cheap, copy-pasted
cheats. The sandbox, not these checks, is what protects the machine, the other submissions and
the grades.
"""
from __future__ import annotations

import __future__
import ast
import builtins
import io
import secrets
import symtable
import tokenize
from typing import Dict, Iterable, List, Optional, Set, Tuple

MONITORED_MODULES = ("builtins", "numpy", "numpy.testing", "numpy.testing._private.utils",
                     "numpy.linalg", "numpy._core.numeric", "numpy._core.fromnumeric",
                     "numpy._core._methods", "numpy.core.numeric", "numpy.core.fromnumeric",
                     "math", "cmath", "operator", "functools", "json", "json.decoder",
                     "json.encoder", "os", "posixpath", "torch", "torch.nn.functional",
                     "torch.testing", "torch.testing._comparison", "torch.autograd", "unittest",
                     "sklearn.metrics", "pandas")
MONITORED_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("numpy", "ndarray"))
ALLOWED_CALLBACK_MODULES = ("matplotlib", "matplotlib_inline", "IPython", "ipykernel",
                            "ipywidgets", "comm")
ABSENT = "-"
# ``from __future__ import ...`` in a cell changes the compiler's flags: not tampering.
FUTURE_MASK = 0
for _feature in __future__.all_feature_names:
    FUTURE_MASK |= getattr(__future__, _feature).compiler_flag
# Types of library callables a notebook name may hold (compared by identity).
LIBRARY_CALLABLES = ("builtin_function_or_method", "method-wrapper", "wrapper_descriptor",
                     "method_descriptor", "ufunc", "_ArrayFunctionDispatcher", "partial",
                     "cython_function_or_method", "fused_cython_function")

# Runs in the kernel, in a fresh namespace (never the notebook's), and answers with one line:
# NONCE + repr(dict of str -> str | list of str); the grader parses it with ast.literal_eval.
# It calls only builtins and the interpreter's own objects, no library function.
_FINGERPRINT = r'''
FunctionType = type(lambda: 0)
MethodType = type(FunctionType.__get__(lambda self: 0, 0))
ModuleType = type(sys)
for name in PREIMPORT:
    try:
        __import__(name)
    except BaseException:
        pass
fp = {}
def code_id(f):
    c = f.__code__
    return (str(id(c)) + "/" + str(hash(c)) + "/" + str(id(f.__defaults__)) + "/"
            + str(id(f.__kwdefaults__)) + ("|cell" if c.co_filename.startswith("<")
                                            or "ipykernel_" in c.co_filename else ""))
def ident(v):
    try:
        t = type(v)
        if t is MethodType:
            f = v.__func__
            extra = ":" + code_id(f) if type(f) is FunctionType else ""
            return "method:" + str(id(f)) + "@" + str(id(v.__self__)) + extra
        s = t.__qualname__ + ":" + str(id(v))
        if t is FunctionType:
            return s + ":" + code_id(v)
        if t is ModuleType:
            return s
        w = v.__wrapped__ if t.__name__ == "_ArrayFunctionDispatcher" else None
        if type(w) is FunctionType:  # numpy's dispatcher: the Python function it calls
            s = s + ":" + str(id(w)) + ":" + code_id(w)
        return s
    except BaseException:
        return "unreadable:" + str(id(v))
CodeType = type(code_id.__code__)
SIMPLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)
def csig(c):
    consts = tuple(csig(k) if type(k) is CodeType else
                   (type(k).__name__ + ":" + repr(k) if type(k) in SIMPLE else type(k).__name__)
                   for k in c.co_consts)
    return (c.co_code, consts, c.co_names)
def dsig(d):
    if d is None:
        return None
    items = d.items() if type(d) is dict else enumerate(d)
    return tuple((k, type(x).__name__ + ":" + repr(x) if type(x) in SIMPLE else type(x).__name__)
                 for k, x in items)
def in_cell(f):
    n = f.__code__.co_filename
    return n.startswith("<") or "ipykernel_" in n
def fsig(f):
    return (str(hash((csig(f.__code__), dsig(f.__defaults__), dsig(f.__kwdefaults__))))
            + ("|nb" if in_cell(f) else ""))
def nsval(v):
    # what a test relies on in a notebook name: code (compared) or data (not compared)
    try:
        t = type(v)
        if t is ModuleType:
            return "code:module:" + str(id(v))
        if t is FunctionType:
            return "code:function:" + fsig(v)
        if t is MethodType:
            f = v.__func__
            return ("code:method:" + (fsig(f) if type(f) is FunctionType else str(id(f)))
                    + "@" + str(id(v.__self__)))
        if isinstance(v, type):
            if vars(v).get("__module__") != "__main__":
                return "code:class:" + str(id(v))
            body = tuple((k, fsig(x)) for k, x in list(vars(v).items()) if type(x) is FunctionType)
            return ("code:class:" + str(hash((v.__qualname__, body,
                                                tuple(b.__qualname__ if vars(b).get("__module__")
                                                      == "__main__" else id(b)
                                                      for b in v.__bases__)))) + "|nb")
        if t.__name__ in LIBRARY_CALLABLES:
            return "code:builtin:" + str(id(v))
        return "data" + ("|nb" if vars(t).get("__module__") == "__main__" else "")
    except BaseException:
        return "unreadable:" + str(id(v)) + "|nb"
def callables(prefix, mapping):
    for k, v in list(mapping.items()):
        t = type(v)
        if callable(v) or t in (staticmethod, classmethod, property, ModuleType):
            fp[prefix + str(k)] = ident(v)
for k, v in list(__builtins__.items()):
    if k not in ("_", "__", "___"):
        fp["builtins." + str(k)] = ident(v)
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
    fp["ip.compile.flags"] = str(getattr(ip.compile, "flags", 0) & ~FUTURE_MASK)
    fp["ip.input_transformer_manager"] = ident(ip.input_transformer_manager)
    fp["ip.ast_transformers.list"] = str(id(ip.ast_transformers))
    for label, obj in (("compile", ip.compile), ("itm", ip.input_transformer_manager)):
        callables("ip." + label + ".attr.", dict(vars(obj)) if hasattr(obj, "__dict__") else {})
        for cls in type(obj).__mro__:
            if cls is not object:
                callables("ip." + label + ".class." + cls.__name__ + ".", vars(cls))
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
    for event, cbs in list(ip.events.callbacks.items()):
        idents = []
        for c in list(cbs):
            s = ident(c)
            try:  # matplotlib's / IPython's own function or method, looked up where it lives
                f = c.__func__ if type(c) is MethodType else c
                mod = sys.modules.get(str(f.__module__))
                if type(c) is MethodType:
                    home = [vars(k).get(f.__name__) for k in type(c.__self__).__mro__]
                else:
                    home = [vars(mod).get(f.__name__)] if mod is not None else []
                if (type(f) is FunctionType and mod is not None
                        and str(f.__module__).split(".")[0] in ALLOWED
                        and any(h is f for h in home)
                        and f.__code__.co_filename == getattr(mod, "__file__", None)):
                    s = s + "|ok"
            except BaseException:
                pass
            idents.append(s)
        fp["ip.events." + str(event)] = idents
    ns = ip.user_ns
    fp["ns.__builtins__"] = ident(ns.get("__builtins__"))
    for name in NAMES:
        fp["ns." + name] = nsval(ns[name]) if name in ns else "-"
for name in MODULES:
    mod = sys.modules.get(name)
    if mod is not None and name != "builtins":
        fp["module." + name] = ident(mod)
        callables(name + ".", vars(mod))
for modname, clsname in CLASSES:
    mod = sys.modules.get(modname)
    cls = vars(mod).get(clsname) if mod is not None else None
    if isinstance(cls, type):
        callables(modname + "." + clsname + ".", vars(cls))
tc = sys.modules.get("torch._C")
if tc is not None:  # torch function / dispatch modes (TorchFunctionMode) change every result
    for name in ("_len_torch_function_stack", "_len_torch_dispatch_stack"):
        f = getattr(tc, name, None)
        fp["torch._C." + name] = ident(f)
        try:
            fp["torch.stack." + name] = str(f())
        except BaseException:
            fp["torch.stack." + name] = "unreadable"
for name, mod in list(sys.modules.items()):
    if name == "course_utils" or name.startswith("course_utils."):
        callables(name + ".", vars(mod))
sys.stdout.write(NONCE + repr(fp) + "\n")
sys.stdout.flush()
'''

# Reaches the interpreter's own builtins dict and ``sys`` (the globals of the import system,
# found from the literal ``()``), not through names: a name in the silent request itself
# (``__import__``, ``exec``) would be looked up in the notebook's namespace, and
# ``sys.modules['builtins']`` / ``['sys']`` can be replaced by the student. (Python classes on
# this path can still be patched: see the module docstring.)
_OPENER = ("(lambda o: [c for c in o.__subclasses__() if c.__name__ == 'BuiltinImporter'][0])"
           "(().__class__.__base__).find_spec.__func__.__globals__")


def fingerprint_code(nonce: str, names: Iterable[str] = (), preimport: Iterable[str] = ()) -> str:
    """The silent request: one expression that leaves no names in the user namespace.
    ``names``: user-namespace names to report; ``preimport``: modules to import first."""
    src = (f"MODULES = {MONITORED_MODULES!r}\nCLASSES = {MONITORED_CLASSES!r}\n"
           f"ALLOWED = {ALLOWED_CALLBACK_MODULES!r}\nNONCE = {nonce!r}\n"
           f"NAMES = {tuple(sorted(names))!r}\nPREIMPORT = {tuple(preimport)!r}\n"
           f"FUTURE_MASK = {FUTURE_MASK!r}\nLIBRARY_CALLABLES = {LIBRARY_CALLABLES!r}\n"
           + _FINGERPRINT)
    return ("(lambda g: (lambda b: b['exec'](" + repr(src) + ", {'__name__': '__grader__', "
            "'__builtins__': b, 'sys': g['sys']}))(g['__builtins__'] if g['__builtins__']"
            ".__class__ is {}.__class__ else g['__builtins__'].__dict__))(" + _OPENER + ")")


def take_fingerprint(run, timeout: float = 30, names: Iterable[str] = (),
                     preimport: Iterable[str] = (), retry: bool = True) -> Tuple[Optional[dict], str]:
    """Ask ``run`` (a :class:`course_grader.runner.KernelRun`) for its fingerprint.
    Returns ``(fingerprint, "")`` or ``(None, why not)``. No answer in ``timeout`` seconds: tried
    once more with three times the time (``retry``)."""
    names, preimport = list(names), list(preimport)
    problem = ""
    for wait in ((timeout, timeout * 3) if retry else (timeout,)):
        nonce = "fp-" + secrets.token_hex(12) + ":"
        status, out = run.silent(fingerprint_code(nonce, names, preimport), wait)
        if status != "ok":
            problem = f"grader check got no answer ({status})"
            if status == "timeout":
                continue
            return None, problem
        for line in out.splitlines():
            if line.startswith(nonce):
                try:
                    value = ast.literal_eval(line[len(nonce):])
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    break
                if isinstance(value, dict):
                    return value, ""
        return None, "grader check got no valid answer (cell input rewritten or stdout replaced)"
    return None, problem


def compare(baseline: dict, current: dict, limit: int = 4) -> List[str]:
    """What changed from ``baseline`` to ``current`` (changed or removed entries; for lists,
    any difference; new non-empty lists; entries whose baseline is :data:`ABSENT` must not
    exist). Human-readable, at most ``limit`` items plus a count."""
    changes = []
    for key, before in baseline.items():
        after = current.get(key)
        if before == ABSENT:
            if after is not None:
                changes.append(f"{key} added")
        elif after is None:
            changes.append(f"{key} removed")
        elif after != before:
            if isinstance(before, list):
                changes.append(f"{key} changed ({len(before)} -> {len(after)})")
            else:
                changes.append(f"{key} replaced")
    for key, after in current.items():  # new hooks / transformers
        if key not in baseline and isinstance(after, list) and after:
            changes.append(f"{key} added")
    return _limit(changes, limit)


def _limit(changes: List[str], limit: int) -> List[str]:
    if len(changes) > limit:
        changes = changes[:limit] + [f"and {len(changes) - limit} more"]
    return changes


# ----------------------------------------------------------------------------- source analysis
def _transformed(source: str) -> Optional[str]:
    """The cell as Python (IPython's magics and ``!`` lines turned into calls); ``None`` when
    it does not parse."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or an odd cell: parse what is there
        pass
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    return source


def _python(source: str) -> Optional[ast.AST]:
    source = _transformed(source)
    return None if source is None else ast.parse(source)


def _table(source: str) -> Optional[symtable.SymbolTable]:
    source = _transformed(source)
    if source is None:
        return None
    try:
        return symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError):
        return None


def _nested_globals(table: symtable.SymbolTable) -> Set[str]:
    """Global names read in ``table``'s nested scopes and below (never parameters or locals)."""
    out: Set[str] = set()
    for child in table.get_children():
        out |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        out |= _nested_globals(child)
    return out


def _token_names(source: str) -> Set[str]:
    names: Set[str] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME:
                names.add(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return names


def binds(source: str) -> Tuple[Set[str], bool]:
    """Names a cell binds at top level (assignments, ``def``, ``class``, imports, ``for``,
    ``with``, walrus, ``del``) and whether it has a ``from x import *``. Unparsable: ``(set(),
    False)``."""
    tree = _python(source)
    out: Set[str] = set()
    star = False
    if tree is None:
        return out, star

    def visit(node, top):
        nonlocal star
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if top:
                out.add(node.name)
            for d in node.decorator_list:
                visit(d, top)
            return  # its body binds local names
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)) and top:
            for alias in node.names:
                if alias.name == "*":
                    star = True
                else:
                    out.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and top:
            out.add(node.id)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                    out.add(sub.target.id)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    visit(tree, True)
    for node in ast.walk(tree):  # `global x` in a function body binds x when called
        if isinstance(node, ast.Global):
            out.update(node.names)
    return out, star


def loads(source: str) -> Set[str]:
    """The names a test cell reads from the notebook: the module-level names it reads and
    never assigns or imports itself, plus the global names read in its lambdas,
    comprehensions, functions and classes (not their parameters or locals) that the cell does
    not assign at top level. Unparsable: every name token (a superset)."""
    table = _table(source)
    if table is None:
        return _token_names(source)
    own = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    free = {s.get_name() for s in table.get_symbols() if s.is_referenced() and s.get_name() not in own}
    return free | (_nested_globals(table) - own)


def function_loads(source: str) -> Dict[str, Set[str]]:
    """``{name: global names read in its body}`` for the functions and classes a cell defines at
    top level (their parameters and locals are not the notebook's)."""
    tree, table = _python(source), _table(source)
    out: Dict[str, Set[str]] = {}
    if tree is None or table is None:
        return out
    defined = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for child in table.get_children():
        name = child.get_name()
        if name in defined:
            used = {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
            if child.get_type() == "class":  # a class body's unassigned reads are global too
                used |= {s.get_name() for s in child.get_symbols()
                         if s.is_referenced() and not (s.is_assigned() or s.is_imported()
                                                       or s.is_local() and s.is_parameter())}
            out[name] = out.get(name, set()) | used | _nested_globals(child)
    return out


def imported_roots(source: str) -> Set[str]:
    tree = _python(source)
    roots: Set[str] = set()
    if tree is None:
        return roots
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


BUILTIN_NAMES = frozenset(n for n in dir(builtins) if n not in ("_", "__", "___"))


class Plan:
    """What the guard protects in one notebook, from its sources alone.

    ``trusted_binds[i]``: names lesson/test cell ``i`` binds (``None``: a star import, all);
    ``uses[i]``: names test cell ``i`` depends on (its own reads plus, transitively, the reads of
    lesson functions it calls); ``protected``: every such name minus the instructor's solution
    bindings; ``preimport``: monitored modules whose package any cell imports."""

    def __init__(self, cells, is_solution, is_test, solution_binds: Optional[Set[str]] = None):
        self.trusted_binds: Dict[int, Optional[Set[str]]] = {}
        self.uses: Dict[int, Set[str]] = {}
        helpers: Dict[str, Set[str]] = {}
        roots: Set[str] = set()
        for i, cell in enumerate(cells):
            if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
                continue
            src = cell["source"]
            roots |= imported_roots(src)
            if is_solution(cell):
                continue
            bound, star = binds(src)
            self.trusted_binds[i] = None if star else bound
            for name, body in function_loads(src).items():
                helpers[name] = helpers.get(name, set()) | body
            if is_test(cell):
                self.uses[i] = loads(src)
        for i, used in self.uses.items():
            todo, seen = list(used), set(used)
            while todo:
                for name in helpers.get(todo.pop(), ()):
                    if name not in seen:
                        seen.add(name)
                        todo.append(name)
            self.uses[i] = seen - (solution_binds or set())
        self.protected: Set[str] = set().union(*self.uses.values()) if self.uses else set()
        self.preimport = [m for m in MONITORED_MODULES if m.split(".")[0] in roots
                          and not m.startswith("numpy.core.")]  # deprecated alias in numpy 2


def solution_bindings(instructor, is_solution) -> Set[str]:
    """Names the instructor's solution cells bind (they are the student's to define)."""
    out: Set[str] = set()
    for cell in getattr(instructor, "cells", []):
        if is_solution(cell) and isinstance(cell.get("source"), str):
            out |= binds(cell["source"])[0]
    return out


# ----------------------------------------------------------------------------- nonce
def new_nonce() -> str:
    return "nonce-" + secrets.token_hex(16)


def nonce_line(nonce: str) -> str:
    """Appended to a test cell: prints the nonce only if ``assert`` still works (a canary
    against a compiler or transformer that strips or rewrites the cell's asserts)."""
    return f"\ntry:\n    assert False\nexcept AssertionError:\n    print({nonce!r})"


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


# ----------------------------------------------------------------------------- the guard
class TamperGuard:
    """The grader's hooks for :func:`course_grader.runner.execute_notebook`.

    ``is_solution(cell)`` / ``is_test(cell)`` classify cells; ``instructor`` (optional, the
    instructor's notebook) names what the solution cells may bind. ``rejected`` maps grade-cell
    indices to the reason; ``notes`` is the "tampering: ..." list (plus "tamper check
    unavailable: ..." when the baseline could not be taken)."""

    def __init__(self, is_solution, is_test, instructor=None, timeout: float = 30):
        self.is_solution = is_solution
        self.is_test = is_test
        self.timeout = timeout
        self._solution_binds = (solution_bindings(instructor, is_solution)
                                if instructor is not None else None)
        self.plan: Optional[Plan] = None
        self.baseline: Optional[dict] = None
        self.baseline_problem = ""
        self.rejected: Dict[int, str] = {}
        self.reasons: List[str] = []
        self._nonce: Dict[int, Tuple[str, str]] = {}
        self._last: Optional[dict] = None       # the previous probe's answer
        self._ran: List[int] = []               # code cells run since the previous probe
        self._names: Dict[str, str] = {}        # protected name -> trusted identity
        self._callbacks: Dict[str, Set[str]] = {}  # event -> trusted callback identities

    def _reject(self, index: int, reason: str) -> None:
        self.rejected[index] = reason
        if reason not in self.reasons:
            self.reasons.append(reason)

    # -- probing ----------------------------------------------------------------------------
    def _probe(self, run, preimport=()) -> Tuple[Optional[dict], str]:
        return take_fingerprint(run, self.timeout, self.plan.protected, preimport)

    def _absorb(self, current: dict) -> None:
        """Attribute what changed since the previous probe to the cells run in between."""
        student = any(self.is_solution(self._cells[i]) for i in self._ran)
        last = self._last or {}
        if not student:
            for i in self._ran:  # names the trusted cells bind take their new values
                bound = self.plan.trusted_binds.get(i, set())
                for name in (self.plan.protected if bound is None else bound & self.plan.protected):
                    self._names[name] = current.get("ns." + name, ABSENT)
        for key, now in current.items():
            if key.startswith("ip.events."):
                trusted = self._callbacks.setdefault(key, set())
                before = set(last.get(key, []))
                added = set(now) - before
                trusted -= before - set(now)
                trusted |= {c for c in added if not student or c.endswith("|ok")}
            elif key.startswith("ns."):
                continue
            elif key in self.baseline:
                if not student and now != last.get(key, now):
                    self.baseline[key] = now  # a lesson/test cell changed it: adopted
            elif not student:
                self.baseline[key] = now
            elif key.startswith("torch.stack."):
                self.baseline[key] = "0"  # torch first imported by a solution cell
            elif key.startswith(("ip.", "kernel.", "session.", "sys.")) or \
                    any("|cell" in v for v in (now if isinstance(now, list) else [now])):
                self.baseline[key] = ABSENT  # a solution cell put it there
            else:
                self.baseline[key] = now  # a module first imported by a solution cell
        self._last = current
        self._ran = []

    def _changes(self, index: int, current: dict) -> List[str]:
        mine = ("ns.", "ip.events.")  # checked below
        changes = compare({k: v for k, v in self.baseline.items() if not k.startswith(mine)},
                          {k: v for k, v in current.items() if not k.startswith(mine)}, limit=100)
        for key, now in current.items():
            if key.startswith("ip.events."):
                extra = set(now) - self._callbacks.get(key, set())
                if extra:
                    changes.append(f"{key[3:]} callback added")
        if current.get("ns.__builtins__") != self.baseline.get("ns.__builtins__"):
            changes.append("__builtins__ rebound")
        for name in sorted(self.plan.uses.get(index, set())):
            now = current.get("ns." + name, ABSENT)
            trusted = self._names.get(name, ABSENT)
            if now == trusted:
                continue
            if name in BUILTIN_NAMES:  # numpy's / torch's abs is fine, a notebook's is not
                if now.endswith("|nb"):
                    changes.append(f"{name} rebound")
            elif trusted.startswith("code:"):  # a module or callable the test relies on
                changes.append(f"{name} rebound")
        return _limit(changes, 4)

    # -- hooks ------------------------------------------------------------------------------
    def before_cell(self, run, index, cell) -> None:
        if self.plan is None:
            self._cells = run.nb.cells if getattr(run, "nb", None) is not None else []
            self.plan = Plan(self._cells, self.is_solution, self.is_test, self._solution_binds)
        solution, test = self.is_solution(cell), self.is_test(cell)
        if self.baseline is None and not self.baseline_problem and solution:
            current, problem = self._probe(run, self.plan.preimport)
            if current is None:
                self.baseline_problem = problem or "no baseline"
            else:
                self.baseline = {k: v for k, v in current.items() if not k.startswith("ip.events.")}
                self._callbacks = {k: set(v) for k, v in current.items() if k.startswith("ip.events.")}
                self._last = current
                for name in self.plan.protected:  # no student code has run yet: all trusted
                    value = current.get("ns." + name, ABSENT)
                    if value != ABSENT or name in BUILTIN_NAMES:
                        self._names[name] = value
                self._ran = []
        elif self.baseline is not None and (solution or test):
            if self._ran or self._last is None:
                current, problem = self._probe(run)
            else:  # nothing ran since the previous probe (a test right after its solution)
                current, problem = self._last, ""
            if current is None:
                if test:
                    self._reject(index, problem)
            else:
                if current is not self._last:
                    self._absorb(current)
                if test:
                    changes = self._changes(index, current)
                    if changes:
                        self._reject(index, ", ".join(changes))
        if test:
            if run.client is not None:
                run.client.no_clear.add(index)
            nonce = new_nonce()
            if run.client is not None and hasattr(run.client, "keep_text"):
                run.client.keep_text.add(nonce)
            self._nonce[index] = (nonce, cell.source)
            cell.source = cell.source + nonce_line(nonce)

    def after_cell(self, run, index, cell, reply) -> None:
        self._ran.append(index)
        if self.baseline is not None and self.is_solution(cell):
            current, _ = self._probe(run)
            if current is not None:  # no answer: the next test's probe rejects it
                self._absorb(current)
        if index not in self._nonce:
            return
        nonce, source = self._nonce.pop(index)
        cell.source = source
        printed = strip_nonce(cell, nonce)
        if run.client is not None and hasattr(run.client, "keep_text"):
            run.client.keep_text.discard(nonce)
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
        notes = [f"tampering: {r}" for r in self.reasons]
        if self.baseline_problem and self.plan is not None and any(
                self.is_test(c) for c in self._cells):
            notes.append(f"tamper check unavailable: {self.baseline_problem}")
        return notes
