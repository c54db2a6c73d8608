"""Unit tests of course_grader.tamper without a kernel process: the source analysis, the
guard's bookkeeping against an in-process IPython shell, the baseline retry, and the runner's
output cap letting the nonce through. (The sandboxed end-to-end cheats are in
test_grader_sandbox.py.)"""
from __future__ import annotations

import contextlib
import io
import sys

import nbformat
import pytest

from course_grader import runner as RUN
from course_grader import tamper as T

v4 = nbformat.v4


def _sol(gid):
    return {"nbgrader": {"grade_id": gid, "solution": True, "grade": False}}


def _test(gid):
    return {"nbgrader": {"grade_id": gid, "solution": False, "grade": True, "points": 1}}


def is_solution(cell):
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def is_test(cell):
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def test_binds_and_loads_read_the_source_like_python():
    bound, star = T.binds("import numpy as np\nfrom math import isclose\nimport os.path\n"
                          "x, (y, z) = 1, (2, 3)\nfor i in range(2):\n    pass\n"
                          "def f(a):\n    global g\n    inner = 1\nclass C:\n    attr = 2\n"
                          "with open('f') as fh:\n    pass\n%matplotlib inline\ndel x\n")
    assert bound == {"np", "isclose", "os", "x", "y", "z", "i", "f", "g", "C", "fh"} and not star
    assert T.binds("from numpy import *") == (set(), True)
    assert T.loads("assert abs(double(2) - 4) < 1e-9\nnp.allclose([v for v in w], 1)") == \
        {"abs", "double", "np", "w"}  # not the comprehension's own variable
    # names the test assigns itself, lambda parameters, and globals read in nested scopes
    assert T.loads("out = thr(2)\nassert all(out > o for o in K) and (lambda q: q + W)(1)\n"
                   "W = 1\nimport math") == {"thr", "all", "K"}
    assert T.loads("def broken(:\n  abs(x)") >= {"abs", "x"}  # unparsable: every name token
    assert T.function_loads("def close(a, b):\n    return bool(np.allclose(a, b))") == \
        {"close": {"bool", "np"}}  # not its parameters
    assert T.function_loads("class C:\n    k = BASE\n    def m(self, z):\n        "
                            "y = sigmoid(z)\n        return y") == {"C": {"BASE", "sigmoid"}}


def test_plan_protects_what_tests_use_minus_what_solutions_bind():
    cells = [v4.new_code_cell("import numpy as np\ndef close(a, b):\n    return np.allclose(a, b)"),
             v4.new_code_cell("def total(xs):\n    raise NotImplementedError()", metadata=_sol("s1")),
             v4.new_code_cell("assert close(total([1]), 1) and abs(-1) == 1", metadata=_test("t1")),
             v4.new_code_cell("from numpy import *"),
             v4.new_code_cell("import cmath\nassert cmath.isclose(1, 1)", metadata=_test("t2"))]
    plan = T.Plan(cells, is_solution, is_test)
    assert plan.uses[2] == {"close", "total", "abs", "np"}  # not close's parameters a, b
    assert plan.uses[4] == set()  # it imports cmath itself (the module's functions are fingerprinted)
    assert plan.trusted_binds[0] == {"np", "close"} and plan.trusted_binds[3] is None
    assert 1 not in plan.trusted_binds  # the solution cell is not trusted
    assert plan.preimport[:2] == ["numpy", "numpy.testing"] and "cmath" in plan.preimport
    assert not any(m.startswith("numpy.core.") for m in plan.preimport)
    instructor = [v4.new_code_cell("def total(xs):\n    return sum(xs)\nnp = 1", metadata=_sol("s1"))]
    exact = T.Plan(cells, is_solution, is_test, T.solution_bindings(
        nbformat.v4.new_notebook(cells=instructor), is_solution))
    assert "np" not in exact.uses[2] and "total" not in exact.uses[2]


# ----------------------------------------------------------------------------- in-process guard
class FakeRun:
    """Just enough of runner.KernelRun for TamperGuard, over an in-process IPython shell."""

    def __init__(self, nb, shell, stdout, answer=True):
        self.nb, self.shell, self.stdout, self.client, self.answer = nb, shell, stdout, None, answer
        self.silent_calls = []

    def silent(self, code, timeout=15):
        self.silent_calls.append(timeout)
        if not self.answer:
            return "timeout", ""
        start = len(self.stdout.getvalue())
        result = self.shell.run_cell(code, silent=True, store_history=False)
        return ("ok" if result.success else "error"), self.stdout.getvalue()[start:]


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    import json

    import numpy._core.numeric as numeric

    import codeop

    from IPython.core.inputtransformer2 import TransformerManager

    # the cheats below patch this very process
    saved = json.dumps, numeric.isclose, codeop.Compile.__call__, TransformerManager.transform_cell
    sh = InteractiveShell.instance()
    try:
        yield sh
    finally:
        InteractiveShell.clear_instance()
        json.dumps, numeric.isclose, codeop.Compile.__call__, TransformerManager.transform_cell = saved
        torch = sys.modules.get("torch")
        if torch is not None:
            while torch._C._len_torch_function_stack():
                torch._C._pop_torch_function_stack()


def _grade(shell, sources, answer=True):
    """Run cells ('L:' lesson, 'S:' solution, 'T:' test) through the guard's hooks."""
    cells = []
    for n, src in enumerate(sources):
        kind, code = src[:2], src[2:]
        meta = _sol(f"s{n}") if kind == "S:" else _test(f"t{n}") if kind == "T:" else {}
        cells.append(v4.new_code_cell(code, metadata=meta))
    nb = v4.new_notebook(cells=cells)
    stdout = io.StringIO()  # one stdout for the whole run, as in a kernel
    run = FakeRun(nb, shell, stdout, answer)
    guard = T.TamperGuard(is_solution, is_test)
    with contextlib.redirect_stdout(stdout):
        for i, cell in enumerate(cells):
            guard.before_cell(run, i, cell)
            start = len(stdout.getvalue())
            result = shell.run_cell(cell.source, store_history=False)
            cell.outputs = [v4.new_output("stream", name="stdout", text=stdout.getvalue()[start:])]
            guard.after_cell(run, i, cell, {"status": "ok" if result.success else "error"})
    return guard, run


LESSON = "L:import numpy as np\nBASE = 3\ndef close(a, b):\n    return bool(np.allclose(a, b))"


def test_honest_cells_pass_even_when_lessons_rebind_names(shell):
    guard, _ = _grade(shell, [LESSON, "S:def f(x):\n    return abs(x)", "T:assert close(f(-3), BASE)",
                              "L:BASE = 4\nimport numpy as np", "S:def g(x):\n    return x + 1",
                              "T:assert g(BASE) == 5 and abs(-1) == 1"])
    assert guard.rejected == {} and guard.notes == []


@pytest.mark.parametrize("cheat, reason", [
    ("abs = lambda x: 0", "abs rebound"),
    ("__builtins__ = {}", "__builtins__ rebound"),
    ("close.__code__ = (lambda a, b: True).__code__", "close rebound"),
    ("np = type('P', (), {'allclose': staticmethod(lambda *a, **k: True)})()", "np rebound"),
    ("import numpy\nnumpy._core.numeric.isclose = lambda *a, **k: numpy.array([True])",
     "numpy._core.numeric.isclose replaced"),
    ("import json\njson.dumps = lambda *a, **k: '{}'", "json.dumps replaced"),
    ("def cb(*a):\n    pass\ncb.__module__ = 'IPython.core.events'\n"
     "get_ipython().events.register('pre_run_cell', cb)", "pre_run_cell callback added"),
])
def test_each_cheat_rejects_the_tests_that_depend_on_it(shell, cheat, reason):
    guard, _ = _grade(shell, [LESSON, "S:" + cheat, "L:x = 1",  # a lesson cell launders nothing
                              "T:assert abs(-1) == 1 and close(BASE, 3) and BASE == 3"])
    assert 3 in guard.rejected and reason in guard.rejected[3], guard.rejected
    assert any(n.startswith("tampering: ") and reason in n for n in guard.notes)


def test_a_test_that_does_not_use_the_rebound_name_still_counts(shell):
    guard, _ = _grade(shell, [LESSON, "S:abs = lambda x: 0", "T:assert close(BASE, 3)",
                              "T:assert abs(-2) == 2"])
    assert list(guard.rejected) == [3] and guard.rejected[3] == "abs rebound"


def test_a_lesson_cell_that_binds_the_name_again_makes_it_trusted(shell):
    guard, _ = _grade(shell, [LESSON, "S:np = None", "L:import numpy as np", "T:assert close(1, 1)"])
    assert guard.rejected == {}


def test_no_baseline_is_retried_once_then_noted_not_scored(shell):
    guard, run = _grade(shell, [LESSON, "S:pass", "T:assert True"], answer=False)
    assert run.silent_calls == [30, 90]  # the baseline, then once more with three times the time
    assert guard.rejected == {}
    assert guard.notes == ["tamper check unavailable: grader check got no answer (timeout)"]


def _stream(text):
    return {"msg_type": "stream", "header": {"msg_type": "stream"}, "parent_header": {},
            "content": {"name": "stdout", "text": text}}


def test_output_cap_keeps_the_nonce_line():
    client = RUN._make_client_class()(v4.new_notebook())
    client.clear_before_next_output = False  # what nbclient sets when a cell starts
    client.keep_text.add("nonce-abc")
    outs = []
    client.output(outs, _stream("start\n"), None, 0)
    client.output(outs, _stream("y" * RUN.MAX_CELL_OUTPUT), None, 0)
    client.output(outs, _stream("more\nnonce-abc\n"), None, 0)
    client.output(outs, _stream("other"), None, 0)
    texts = [o["text"] for o in outs]
    assert texts[0] == "start\n" and texts[1].startswith("\n[output cut at")
    assert texts[2:] == ["nonce-abc\n"] and 0 in client.truncated
    assert T.strip_nonce({"outputs": outs}, "nonce-abc")


def test_the_probe_does_not_go_through_names_the_student_controls(shell):
    guard, run = _grade(shell, [LESSON, "S:__import__ = exec = print = None",
                                "T:assert close(BASE, 3)"])
    assert guard.rejected == {} and len(run.silent_calls) == 2  # baseline, after the solution


# ----------------------------------------------------------------------------- honest patterns
@pytest.mark.parametrize("cells", [
    # top-level scratch code binding a name the test assigns itself before reading it
    ["L:def thr(k):\n    return k\nout = thr(0)", "S:out = thr(3)", "T:out = thr(2)\nassert out == 2"],
    # a name that is only a lesson function's parameter
    ["L:def make():\n    return [1]\ndef train(model, n):\n    return len(model) + n\nmodel = make()",
     "S:model = make()", "T:assert train(make(), 1) == 2"],
    # an identical redefinition of a lesson function
    ["L:import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))",
     "S:import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))",
     "T:assert abs(sigmoid(0) - 0.5) < 1e-9"],
    # identical redefinitions of lesson classes, a subclass included
    ["L:class Layer:\n    def f(self, x):\n        return x\nclass Affine(Layer):\n    pass",
     "S:class Layer:\n    def f(self, x):\n        return x\nclass Affine(Layer):\n    pass",
     "T:assert Affine().f(1) == 1"],
    # lesson data the student recomputes (data is not compared)
    ["L:import numpy as np\nW1, b1 = np.ones(2), 0.0\ndef to_matrices(p):\n    return np.zeros(2), 1.0",
     "S:W1, b1 = to_matrices(None)", "T:assert W1.shape == (2,) and b1 == 1.0"],
    # numpy's functions under builtin names
    ["L:import numpy as np", "S:from numpy import *",
     "T:assert abs(-2) == 2 and max([1, 3]) == 3 and round(2.4) == 2 and sum([1, 2]) == 3"],
    # a __future__ import changes the compiler's flags
    ["L:import numpy as np", "S:from __future__ import annotations\ndef f(x: int) -> int:\n    return x",
     "T:assert f(1) == 1", "L:y = 2", "S:def g(x: int) -> int:\n    return x", "T:assert g(y) == 2"],
    # a lesson cell after the first solution changing a fingerprinted function
    ["L:import json", "S:def f(x):\n    return x",
     "L:_orig = json.dumps\ndef _dumps(*a, **k):\n    return _orig(*a, **k)\njson.dumps = _dumps",
     "T:assert json.dumps(f(1)) == '1'", "S:def g(x):\n    return x", "T:assert g(json.dumps(2)) == '2'"],
])
def test_honest_patterns_are_not_tampering(shell, cells):
    guard, _ = _grade(shell, cells)
    assert guard.rejected == {} and guard.notes == [], guard.rejected


def test_changed_lesson_data_is_not_tampering_by_policy(shell):
    guard, _ = _grade(shell, [LESSON, "S:BASE = 0", "T:assert BASE == 0"])
    assert guard.rejected == {}  # documented: lesson data / expected values are not protected


# ----------------------------------------------------------------------------- more cheats
@pytest.mark.parametrize("cheat, test, reasons", [
    ("def close(a, b):\n    return True", "T:assert close(1, 2)", ["close rebound"]),
    ("def abs(x):\n    return 0", "T:assert abs(-2) == 0", ["abs rebound"]),
    ("class A:\n    def __call__(self, x):\n        return 0\nabs = A()", "T:assert abs(-2) == 0",
     ["abs rebound"]),
    ("import codeop\ncodeop.Compile.__call__ = lambda self, s, f, m, flags=0, dont_inherit=False: "
     "compile(s, f, m, self.flags, True, optimize=1)", "T:assert 1 == 2",
     ["ip.compile.class.Compile.__call__ replaced", "without running to its end"]),
    ("from IPython.core.inputtransformer2 import TransformerManager as TM\n_o = TM.transform_cell\n"
     "TM.transform_cell = lambda self, c: _o(self, c).replace('assert ', 'assert True or ')",
     "T:assert 1 == 2", ["ip.itm.class.TransformerManager.transform_cell replaced",
                         "without running to its end"]),
])
def test_code_the_tests_rely_on_is_protected(shell, cheat, test, reasons):
    guard, _ = _grade(shell, [LESSON, "S:" + cheat, test])
    for reason in reasons:
        assert any(reason in r for r in guard.reasons), guard.reasons


def test_torch_function_mode_is_caught(shell):
    pytest.importorskip("torch")
    mode = ("class M(torch.overrides.TorchFunctionMode):\n"
            "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
            "        if func in (torch.allclose, torch.equal):\n            return True\n"
            "        return func(*args, **(kwargs or {}))\nM().__enter__()")
    guard, _ = _grade(shell, ["L:import torch", "S:" + mode,
                              "T:assert torch.allclose(torch.zeros(1), torch.ones(1))"])
    assert "torch.stack._len_torch_function_stack replaced" in guard.rejected.get(2, ""), guard.rejected


def test_a_changed_lesson_class_is_caught(shell):
    guard, _ = _grade(shell, ["L:class Holder:\n    def f(self):\n        return 1",
                              "S:class Holder:\n    def f(self):\n        return 0",
                              "T:assert Holder().f() == 0"])
    assert guard.rejected == {2: "Holder rebound"}
