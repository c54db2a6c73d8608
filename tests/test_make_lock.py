"""scripts/make_lock.py and `make lock`: the lock is replaced atomically, never left empty or partial."""
import importlib.util
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from course_utils.doctor import read_lock

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_lock.py"
OLD_LOCK = "# an old lock\nnumpy==1.0.0\n"


@pytest.fixture(scope="module")
def make_lock():
    spec = importlib.util.spec_from_file_location("make_lock", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pyproject(tmp_path, deps, extras=None) -> Path:
    text = '[project]\nname = "course"\nversion = "0"\ndependencies = [' + ", ".join(f'"{d}"' for d in deps) + "]\n"
    if extras:
        text += "[project.optional-dependencies]\n" + "".join(
            f'{k} = [' + ", ".join(f'"{d}"' for d in v) + "]\n" for k, v in extras.items())
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def _old_lock(tmp_path) -> Path:
    lock = tmp_path / "requirements-lock.txt"
    lock.write_text(OLD_LOCK)
    return lock


def test_a_good_run_writes_the_lock(make_lock, tmp_path, capsys):
    lock = _old_lock(tmp_path)
    pyproject = _pyproject(tmp_path, ["tqdm>=4"], {"dev": ["threadpoolctl", "course[dev]"]})
    assert make_lock.main(["--output", str(lock), "--pyproject", str(pyproject)]) == 0
    pins = read_lock(lock)
    assert pins["tqdm"] == metadata.version("tqdm") and pins["threadpoolctl"] == metadata.version("threadpoolctl")
    assert "course" not in pins                                      # the project itself is not pinned
    assert lock.read_text().startswith("# Exact versions")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml", "requirements-lock.txt"]


def test_a_failing_run_leaves_the_old_lock_intact(make_lock, tmp_path, capsys):
    lock = _old_lock(tmp_path)
    pyproject = _pyproject(tmp_path, ["tqdm", "no-such-package-for-the-course"])
    assert make_lock.main(["--output", str(lock), "--pyproject", str(pyproject)]) == 1
    assert "no-such-package-for-the-course is required" in capsys.readouterr().err
    assert lock.read_text() == OLD_LOCK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml", "requirements-lock.txt"]


def test_a_lock_that_fails_its_check_is_not_installed(make_lock, tmp_path, monkeypatch, capsys):
    lock = _old_lock(tmp_path)
    pyproject = _pyproject(tmp_path, ["tqdm"])
    monkeypatch.setattr(make_lock, "lock_text", lambda pins: "# header only, the pins were lost\n")
    assert make_lock.main(["--output", str(lock), "--pyproject", str(pyproject)]) == 1
    assert "the lock has no pins" in capsys.readouterr().err
    assert lock.read_text() == OLD_LOCK
    monkeypatch.setattr(make_lock, "lock_text", lambda pins: "tqdm==1.0\nthis is not a pin\n")
    assert make_lock.main(["--output", str(lock), "--pyproject", str(pyproject)]) == 1
    assert "not name==version pins" in capsys.readouterr().err
    assert lock.read_text() == OLD_LOCK
    assert len(list(tmp_path.iterdir())) == 2                        # no temporary file left behind


def test_validate_wants_every_direct_dependency(make_lock, tmp_path):
    path = tmp_path / "lock.txt"
    path.write_text("tqdm==4.0\n")
    make_lock.validate(path, ["tqdm>=4"], {"tqdm": "4.0"})
    with pytest.raises(make_lock.LockError, match=r"missing from the lock: \['numpy'\]"):
        make_lock.validate(path, ["tqdm", "NumPy>=1"], {"tqdm": "4.0"})
    with pytest.raises(make_lock.LockError, match="does not read back"):
        make_lock.validate(path, ["tqdm"], {"tqdm": "5.0"})


def test_closure_follows_requested_extras(make_lock):
    if not any(r.startswith("pysocks") for r in metadata.distribution("urllib3").requires or []):
        pytest.skip("this urllib3 has no socks extra")
    with_socks = make_lock.closure(["urllib3[socks]"])
    assert "pysocks" in with_socks and "pysocks" not in make_lock.closure(["urllib3"])


def test_make_lock_target_keeps_the_old_lock_when_the_command_fails(tmp_path):
    """`make lock` with a Python that fails: the shell must not have emptied the lock first."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    lock = _old_lock(tmp_path)
    out = subprocess.run(["make", "--no-print-directory", "lock", "PY=false"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert lock.read_text() == OLD_LOCK


def test_printing_the_lock_still_works(tmp_path):
    pyproject = _pyproject(tmp_path, ["tqdm"])
    out = subprocess.run([sys.executable, str(SCRIPT), "--pyproject", str(pyproject)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and f"tqdm=={metadata.version('tqdm')}" in out.stdout.splitlines()
