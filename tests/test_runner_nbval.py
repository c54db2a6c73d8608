"""One runner: the tests of the stored notebooks (nbval) use the kernel, environment and time
limits of ``make execute`` and the grader (``course_grader.runner``), through
``course_grader.nbval_plugin``.

Each test runs a real ``pytest --nbval`` in a subprocess, as ``make test`` does.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_grader import runner

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ["-p", "course_grader.nbval_plugin"]

PROBE = """import os, sys
print(sys.executable)
print(os.getcwd())
print({k: os.environ.get(k) for k in %r})
print('JPY_PARENT_PID' in os.environ)
""" % (sorted(runner.KERNEL_ENV),)


def _nbval(paths, *extra, env=None):
    """Run strict nbval on ``paths``; return (exit code, {cell node id: outcome}, output)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist",
           "--nbval", "--nbval-current-env", *extra, *map(str, paths)]
    done = subprocess.run(cmd, cwd=ROOT, env=env or os.environ.copy(), capture_output=True,
                          text=True, timeout=300)
    out = done.stdout + done.stderr
    outcomes = {}
    for line in out.splitlines():
        m = re.match(r"^(PASSED|FAILED|ERROR|XFAIL|SKIPPED) (\S+::Cell \d+)", line)
        if m:
            outcomes[m.group(2).split("::", 1)[1]] = m.group(1)
    return done.returncode, outcomes, out


def _notebook(cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(runner.KERNELSPEC)
    return nb


def _exercise(source):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False,
                                 "grade_id": "ex", "schema_version": 3}
    return cell


@pytest.fixture
def probe_notebook(tmp_path):
    """A notebook whose stored output is what ``make execute`` (the runner) printed."""
    path = tmp_path / "probe.ipynb"
    nbformat.write(_notebook([nbformat.v4.new_code_cell(PROBE)]), str(path))
    runner.execute_in_place(path)
    stored = nbformat.read(str(path), as_version=4).cells[0].outputs[0]["text"]
    assert str(Path(sys.executable)) in stored and "'OMP_NUM_THREADS': '1'" in stored
    return path


def _hostile_env(tmp_path):
    """An environment unlike the runner's, with a registered ``python3`` kernel that cannot start."""
    env = os.environ.copy()
    env.update(OMP_NUM_THREADS="7", COURSE_OFFLINE="0", JPY_PARENT_PID="12345")
    env.pop("MKL_NUM_THREADS", None)
    kdir = tmp_path / "jupyter-data" / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": ["/bin/false", "{connection_file}"], "display_name": "broken", "language": "python"}))
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")
    env["JUPYTER_PATH"] = str(tmp_path / "jupyter-data")
    return env


def test_nbval_kernel_matches_make_execute_whatever_the_callers_environment(probe_notebook, tmp_path):
    env = _hostile_env(tmp_path)
    code, outcomes, out = _nbval([probe_notebook], *PLUGIN, "--nbval-kernel-name", "python3", env=env)
    assert code == 0 and outcomes == {"Cell 0": "PASSED"}, out


def test_without_the_plugin_nbval_sees_a_different_environment(probe_notebook, tmp_path):
    """Control: plain nbval hands the caller's environment to its kernel, so the probe differs."""
    code, outcomes, out = _nbval([probe_notebook], env=_hostile_env(tmp_path))
    assert code != 0 and outcomes == {"Cell 0": "FAILED"}, out
    assert "'OMP_NUM_THREADS': '7'" in out


def test_exercise_cells_get_the_cell_limit_and_lesson_cells_the_notebook_limit(tmp_path):
    sleep = "import time\ntime.sleep(2.5)"
    a = tmp_path / "a.ipynb"  # lesson cell longer than the cell limit: fine; exercise cell: not
    nbformat.write(_notebook([nbformat.v4.new_code_cell(sleep), _exercise(sleep)]), str(a))
    b = tmp_path / "b.ipynb"  # three lesson cells: the third runs past the notebook limit
    nbformat.write(_notebook([nbformat.v4.new_code_cell(sleep) for _ in range(3)]), str(b))
    code, outcomes, out = _nbval([a, b], *PLUGIN, "--course-cell-timeout", "1.5",
                                 "--course-notebook-timeout", "6.5")
    assert code != 0, out
    got = {}
    for line in out.splitlines():
        m = re.match(r"^(PASSED|FAILED|ERROR) \S*?([ab])\.ipynb::Cell (\d)", line)
        if m:
            got[m.group(2) + m.group(3)] = m.group(1)
    # b2 either starts with the little time left and is interrupted (FAILED), or, on a slow
    # machine, finds less than a second left and is not started (ERROR in set-up)
    assert got.pop("b2") in ("FAILED", "ERROR"), out
    assert got == {"a0": "PASSED", "a1": "FAILED", "b0": "PASSED", "b1": "PASSED"}, out
    assert "Timeout of 1.5 seconds exceeded" in out, out


def test_bad_limits_are_refused(tmp_path):
    code, _, out = _nbval([tmp_path], *PLUGIN, "--course-cell-timeout", "0")
    assert code != 0 and "--course-cell-timeout must be a positive number" in out, out
