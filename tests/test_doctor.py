import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import doctor, graphs

ROOT = Path(__file__).resolve().parent.parent


def test_read_lock_parses_pins_and_markers(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text('# comment\nTorch==2.14.1\nnvidia_cublas==13.1; platform_system == "Linux"\nnot a pin\n')
    assert doctor.read_lock(lock) == {"torch": "2.14.1", "nvidia-cublas": "13.1"}
    assert doctor.read_lock(tmp_path / "missing.txt") == {}


def test_direct_dependencies_come_from_pyproject():
    deps = doctor.direct_dependencies()
    for name in ("torch", "torchvision", "numpy", "graphviz", "jupyterlab"):
        assert name in deps
    # the extras (grading, tests) are not what a learner's machine needs: the doctor skips them
    assert "nbval" not in deps and "nbgrader" not in deps


def test_check_is_all_green_here():
    report = doctor.check()
    assert list(report.columns) == ["component", "status", "found", "expected", "fix"]
    assert (report["status"] != "FAIL").all(), report[report["status"] == "FAIL"]
    assert "graphviz dot" in report["component"].tolist()


def test_check_reports_missing_dot_with_the_fix(monkeypatch):
    def no_dot():
        raise graphs.DotNotFoundError(graphs.DOT_INSTALL_HINT)

    monkeypatch.setattr(graphs, "check_dot", no_dot)
    report = doctor.check()
    row = report[report["component"] == "graphviz dot"].iloc[0]
    assert row["status"] == "FAIL" and "apt-get install graphviz" in row["fix"]


def test_check_flags_a_version_other_than_the_lock(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("numpy==0.0.1\n")
    report = doctor.check(lock_file=lock)
    row = report[report["component"] == "package numpy"].iloc[0]
    assert row["status"] == "WARN" and row["expected"] == "0.0.1"


def test_format_table_has_one_line_per_row():
    report = doctor.check()
    text = doctor.format_table(report)
    assert len(text.splitlines()) == len(report) + 2


def test_cli_exit_status_when_dot_is_hidden(tmp_path):
    """`python -m course_utils.doctor` with dot hidden from PATH: non-zero and the fix printed."""
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path), "COURSE_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "course_utils.doctor"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "graphviz dot" in out.stdout and "sudo apt-get install graphviz" in out.stdout


def test_cli_exit_status_all_green():
    out = subprocess.run([sys.executable, "-m", "course_utils.doctor"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all required pieces are present" in out.stdout
