"""Adversarial submissions against the sandboxed grader (course_grader), in one batch.

Every submission is built here from the release of a small synthetic chapter (the one in
test_assignments.py, with tests that call ``abs``, ``np.allclose``, a lesson helper and
``cmath``, so that shadowing and patching them would pay off if it went unnoticed). Each cheat
scores what it should (0 for cheats), the repository, the chapter and every other submission
stay byte-identical, no process is left behind, and the batch finishes with a full CSV. Needs bubblewrap: skipped with one line when it is missing,
except under CI=true, where it fails.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from course_grader import grade as G
from course_grader import release as R
from course_grader.sandbox import course_utils_dir, in_ci, sandbox_problem
from test_assignments import _answer, _cell, _demo_notebook, _make_course

PROBLEM = sandbox_problem()
if PROBLEM and not in_ci():
    pytest.skip(f"grader sandbox tests need bubblewrap ({PROBLEM})", allow_module_level=True)

MARK = "86399.0123"  # `sleep` argument that identifies processes a submission started


def _digest(paths):
    out = {}
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                        and "__pycache__" not in p.parts)
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _leftovers():
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if MARK.encode() in cmd:
                found.append(int(entry))
    return found


def _raw(nb):
    return json.loads(nbformat.writes(nb))


def _solution_index(raw, gid):
    return next(i for i, c in enumerate(raw["cells"])
                if c["metadata"].get("nbgrader", {}).get("grade_id") == gid)


def _chapter():
    """The demo chapter; its tests pass for any answer if ``abs``, ``np``, ``close`` or
    ``cmath.isclose`` can be swapped."""
    nb = _demo_notebook("BASE = int(Path('../data/demo.txt').read_text())\nprint(BASE)\n"
                        "def close(a, b):\n    return bool(np.allclose(a, b))")
    _cell(nb, "ch01_ex1_test").source = (
        "assert abs(double(2) - 4) < 1e-9\n### BEGIN HIDDEN TESTS\n"
        "assert abs(double(BASE) - 6) < 1e-9  # hidden_check_one\n### END HIDDEN TESTS")
    _cell(nb, "ch01_ex2_test").source = (
        "assert close(total([1, 2]), 3.0)\n### BEGIN HIDDEN TESTS\n"
        "assert np.allclose(total([]), 0.0)\n### END HIDDEN TESTS")
    _cell(nb, "ch01_ex3_test").source = (
        "import cmath\nassert cmath.isclose(square(3), 9)\n### BEGIN HIDDEN TESTS\n"
        "assert cmath.isclose(square(-2), 4)\n### END HIDDEN TESTS")
    return nb


PROXY = ("class Proxy:\n    def __getattr__(self, name):\n        return lambda *a, **k: True\n"
         "np = Proxy()\n")
CALLBACKS = (  # patch numpy.allclose only while a cell runs; the silent probe never sees it
    "import numpy\noriginal = numpy.allclose\n"
    "def patch(*a, **k):\n    numpy.allclose = lambda *a, **k: True\n"
    "def unpatch(*a, **k):\n    numpy.allclose = original\n"
    "patch.__module__ = unpatch.__module__ = 'IPython.core.events'\n"
    "get_ipython().events.register('pre_run_cell', patch)\n"
    "get_ipython().events.register('post_run_cell', unpatch)\n")
WRONG_TOTAL = "def total(xs):\n    return -1.0"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandbox")
    chapter = _make_course(tmp / "course", _chapter())
    R.release(notebooks_dir=chapter.parent, out=tmp / "release", quiet=True)
    released = tmp / "release" / chapter.name
    student = nbformat.read(str(released), 4)
    repo_cu = course_utils_dir()
    subs = tmp / "subs"
    subs.mkdir()
    read_instructor = (
        "import course_utils, pathlib, json\n"
        "def steal():\n"
        "    places = [pathlib.Path(course_utils.__file__).resolve().parents[1] / 'notebooks',\n"
        f"              pathlib.Path({str(chapter.parent)!r})]\n"
        "    for folder in places:\n"
        "        for path in sorted(folder.glob('*.ipynb')):\n"
        "            for c in json.loads(path.read_text())['cells']:\n"
        "                if c['metadata'].get('nbgrader', {}).get('solution'):\n"
        "                    exec(''.join(c['source']), globals())\n"
        "steal()\n")
    cases = {
        "right": _answer(student),
        "read_instructor": _answer(student, ch01_ex1_solution=read_instructor,
                                   ch01_ex2_solution="pass", ch01_ex3_solution="pass"),
        "transformer": _answer(student, ch01_ex1_solution=(
            "def double(x):\n    return x + 1\n"
            "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])")),
        "monkeypatch": _answer(student, ch01_ex1_solution=(
            "import builtins, numpy\nbuiltins.abs = lambda x: 0\n"
            "numpy.allclose = lambda *a, **k: True\ndef double(x):\n    return 0")),
        "excepthook": _answer(student, ch01_ex1_solution=(
            "def double(x):\n    return 0\n"
            "get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: None)")),
        "write_repo": _answer(student, ch01_ex1_solution=(
            "import course_utils, pathlib\n"
            f"targets = [course_utils.__file__, {str(chapter)!r}, {str(tmp / 'course' / 'data' / 'demo.txt')!r},\n"
            f"           {str(subs / 'right.ipynb')!r}, {str(released)!r}]\n"
            "for t in targets:\n"
            "    try:\n"
            "        with open(t, 'a') as fh:\n"
            "            fh.write('\\nHACKED = True\\n')\n"
            "    except OSError:\n"
            "        pass\n"
            "def double(x):\n    return x + x")),
        "proc_snoop": _answer(student, ch01_ex1_solution=(
            "import os\nseen = []\n"
            "for p in os.listdir('/proc'):\n"
            "    if p.isdigit():\n"
            "        try:\n"
            "            seen.append(open(f'/proc/{p}/cmdline', 'rb').read())\n"
            "        except OSError:\n"
            "            pass\n"
            "paths = [a.decode() for c in seen for a in c.split(b'\\0') if a.endswith(b'.ipynb')]\n"
            "for path in paths:\n"
            "    try:\n"
            "        open(path, 'w').write('{}')\n"
            "    except OSError:\n"
            "        pass\n"
            "grader_seen = any(a in (b'pytest', b'course_grader') for c in seen for a in c.split(b'\\0'))\n"
            "def double(x):\n    return None if grader_seen or paths else x + x")),
        "sleepers": _answer(student, ch01_ex1_solution=(
            "import os, subprocess\n"
            f"procs = [subprocess.Popen(['sleep', '{MARK}']) for _ in range(50)]\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execvp('sleep', ['sleep', '{MARK}'])\n"
            "    os._exit(0)\n"
            "os.waitpid(pid, 0)\n"
            "def double(x):\n    return x + x")),
        "memory": _answer(student, ch01_ex2_solution=(
            "hog = bytearray(30 * 2**30)\ndef total(xs):\n    return float(sum(xs))")),
        "newline_exc": _answer(student, ch01_ex1_solution=(
            "class Sneaky(Exception):\n    pass\n"
            "Sneaky.__name__ = Sneaky.__qualname__ = 'X\\nforged | 2 | 3 | 1 | 6 | -\\n,9,9'\n"
            "def double(x):\n    raise Sneaky('boom')")),
        "shadow_abs": _answer(student, ch01_ex1_solution="abs = lambda x: 0\ndef double(x):\n    return 0"),
        "np_proxy": _answer(student, ch01_ex2_solution=PROXY + WRONG_TOTAL),
        "event_callbacks": _answer(student, ch01_ex2_solution=CALLBACKS + WRONG_TOTAL),
        "numpy_internal": _answer(student, ch01_ex2_solution=(
            "import numpy\n"
            "numpy._core.numeric.isclose = lambda *a, **k: numpy.array([True])\n" + WRONG_TOTAL)),
        "code_swap": _answer(student, ch01_ex2_solution=(
            "close.__code__ = (lambda a, b: True).__code__\n" + WRONG_TOTAL)),
        "late_import": _answer(student, ch01_ex3_solution=(
            "__import__('cma' + 'th').isclose = lambda *a, **k: True\ndef square(x):\n    return 0")),
        "verbose": _answer(student, ch01_ex1_solution=(
            "print('x' * 2_500_000)\ndef double(x):\n    print('y' * 1_500_000)\n    return x + x")),
    }
    paths = []
    for name, nb in cases.items():
        path = subs / f"{name}.ipynb"
        nbformat.write(nb, str(path))
        paths.append(path)
    good = _raw(_answer(student))
    malformed = {}
    raw = json.loads(json.dumps(good))
    raw["cells"][_solution_index(raw, "ch01_ex1_solution")]["metadata"]["nbgrader"] = "oops"
    malformed["m_oops"] = raw
    raw = json.loads(json.dumps(good))
    raw["cells"][_solution_index(raw, "ch01_ex2_solution")]["source"] = 42
    malformed["m_source42"] = raw
    raw = json.loads(json.dumps(good))
    del raw["cells"][_solution_index(raw, "ch01_ex3_solution")]["cell_type"]
    raw["cells"].append({"source": "print(1)", "metadata": {}})
    malformed["m_no_cell_type"] = raw
    raw = json.loads(json.dumps(good))
    raw["cells"][_solution_index(raw, "ch01_ex3_solution")]["metadata"]["nbgrader"]["grade_id"] = ["a"]
    raw["cells"][_solution_index(raw, "ch01_ex1_test")]["metadata"]["nbgrader"]["grade_id"] = ["a"]
    raw["cells"][1]["id"] = raw["cells"][2]["id"]
    malformed["m_grade_id_list"] = raw
    for name, raw in malformed.items():
        path = subs / f"{name}.ipynb"
        path.write_text(json.dumps(raw), encoding="utf-8")
        paths.append(path)
    evil = subs / "evil,name|x.ipynb"
    evil.write_text(json.dumps(good), encoding="utf-8")
    paths += [evil, released]
    protected = [repo_cu, chapter.parent, tmp / "course" / "data", subs, released.parent]
    before = _digest(protected)
    started = time.monotonic()
    results = G.autograde(chapter, paths, timeout=300, cell_timeout=30, csv_path=tmp / "scores.csv",
                          out=tmp / "graded", quiet=True, jobs=2, sandbox=True)
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    return {"results": results, "by": {r.student: r for r in results}, "before": before,
            "after": _digest(protected), "csv": tmp / "scores.csv", "paths": paths,
            "elapsed": elapsed, "leftovers": _leftovers()}


def _scores(r):
    return [r.scores[k] for k in ("ch01_ex1", "ch01_ex2", "ch01_ex3")]


def test_each_submission_scores_what_it_should(batch):
    by = batch["by"]
    expected = {
        "right": [2, 3, 1], "read_instructor": [0, 0, 0], "transformer": [0, 0, 0],
        "monkeypatch": [0, 0, 0], "excepthook": [0, 0, 0], "write_repo": [2, 3, 1],
        "proc_snoop": [2, 3, 1], "sleepers": [2, 3, 1], "memory": [2, 0, 1],
        "newline_exc": [0, 3, 1], "m_oops": [0, 3, 1], "m_source42": [2, 0, 1],
        "m_no_cell_type": [2, 3, 0], "m_grade_id_list": [2, 3, 0], "evil,name_x": [2, 3, 1],
        "shadow_abs": [0, 3, 1], "np_proxy": [2, 0, 1], "event_callbacks": [2, 0, 0],
        "numpy_internal": [2, 0, 0], "code_swap": [2, 0, 1], "late_import": [2, 3, 0],
        "verbose": [2, 3, 1], "release": [0, 0, 0]}
    assert {name: _scores(r) for name, r in by.items()} == expected, \
        {name: r.notes for name, r in by.items()}
    assert by["right"].notes == []


def test_cheats_are_named_in_the_notes(batch):
    by = batch["by"]
    note = lambda name: "; ".join(by[name].notes)  # noqa: E731
    assert "tampering:" in note("transformer")
    assert "without running to its end" in note("transformer")
    assert "builtins.abs replaced" in note("monkeypatch") and "numpy.allclose replaced" in note("monkeypatch")
    assert "tampering:" in note("excepthook") and "custom_exceptions" in note("excepthook")
    assert "NameError" in note("read_instructor")  # nothing to steal: the solutions never appeared
    assert "MemoryError" in note("memory") or "ex2_test NameError" in note("memory")
    assert "tampering: abs rebound" in note("shadow_abs")
    assert "np rebound" in note("np_proxy")
    assert "pre_run_cell callback added" in note("event_callbacks")
    assert "numpy._core.numeric.isclose replaced" in note("numpy_internal")
    assert "close rebound" in note("code_swap")
    assert "cmath.isclose replaced" in note("late_import")
    for name in ("shadow_abs", "np_proxy", "event_callbacks", "numpy_internal", "code_swap",
                 "late_import"):
        assert note(name).count("tampering:") >= 1, (name, note(name))
    assert "tampering" not in note("verbose") and "output cut" in note("verbose")
    assert "nbgrader metadata is str" in note("m_oops")
    assert "source is int" in note("m_source42")
    assert "without cell_type" in note("m_no_cell_type")
    assert "grade_id is list" in note("m_grade_id_list") and "duplicated cell ids" in note("m_grade_id_list")


def test_nothing_outside_the_sandbox_changed_and_nothing_is_left_running(batch):
    assert batch["after"] == batch["before"]
    assert batch["leftovers"] == [], "processes started by a submission are still running"


def test_csv_is_complete_and_cannot_be_forged(batch):
    with open(batch["csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["student"] == "(max)"
    assert [r["student"] for r in rows[1:]] == [r.student for r in batch["results"]]
    assert len(rows) == 1 + len(batch["paths"])
    for row, path in zip(rows[1:], batch["paths"]):
        assert row["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    for row in rows[1:]:
        assert "\n" not in row["notes"] and "|" not in row["notes"]
    forged = next(r for r in rows if r["student"] == "newline_exc")
    assert forged["total"] == "4"
    table = G.format_table(batch["results"])
    lines = table.splitlines()
    assert len(lines) == 2 + len(batch["results"])
    assert not any(line.startswith(("forged", ",9")) for line in lines)
    assert all(line.count(" | ") == lines[0].count(" | ") for i, line in enumerate(lines) if i != 1)


def test_batch_time_stays_bounded(batch):
    assert batch["elapsed"] < 400
