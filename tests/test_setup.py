"""`make setup` before and after the download, and notebooks opened by any Jupyter.

- the Python pre-flight stops a wrong version (a fake interpreter that says 3.9) or a Python
  without venv/ensurepip with one message, before anything is downloaded, and its version
  range is the one the lock's pins need;
- a half-made .venv is recognised and rebuilt;
- `make setup TORCH=cpu` builds PyTorch's CPU-index commands (cannot be run here: no network);
- the Korean font goes to the user's font folder without root;
- the doctor's report prints the command per platform and fails without `dot`;
- chapter 00 passes strict nbval in a Python that has the packages but not the course installed.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from course_utils.doctor import read_lock

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
PLATFORMS = ("Debian/Ubuntu", "Fedora", "macOS", "conda")


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_python(folder: Path, version: str, venv_ok: bool = True) -> Path:
    """An executable that answers the pre-flight's questions like Python ``version``."""
    path = folder / f"python{version}"
    path.write_text("#!/bin/sh\n"
                    'case "$*" in\n'
                    f'  *version_info*) echo "{version}" ;;\n'
                    f'  *"import venv"*) exit {0 if venv_ok else 1} ;;\n'
                    f'  *) echo "Python {version}" ;;\n'
                    "esac\n")
    path.chmod(0o755)
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


# --- pre-flight -------------------------------------------------------------------------

def test_preflight_stops_python_39_with_the_command_per_platform(tmp_path):
    done = run(["bash", str(SCRIPTS / "check_python.sh"), str(fake_python(tmp_path, "3.9.6"))])
    assert done.returncode == 1 and done.stdout == ""
    assert "Python 3.9.6" in done.stderr and "Python 3.11-3.12" in done.stderr
    assert "nothing was downloaded" in done.stderr
    for platform in (*PLATFORMS, "pyenv"):
        assert platform in done.stderr
    assert "sudo apt-get install python3.11 python3.11-venv" in done.stderr
    assert "brew install python@3.11" in done.stderr


def test_preflight_names_the_missing_venv_package(tmp_path):
    done = run(["bash", str(SCRIPTS / "check_python.sh"), str(fake_python(tmp_path, "3.11.2", venv_ok=False))])
    assert done.returncode == 1
    assert "without venv/ensurepip" in done.stderr and "sudo apt-get install python3.11-venv" in done.stderr


def test_preflight_accepts_a_supported_python():
    done = run(["bash", str(SCRIPTS / "check_python.sh"), sys.executable])
    assert done.returncode == 0 and done.stdout.strip() == sys.executable


def test_make_setup_with_a_wrong_python_stops_before_any_download(tmp_path):
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    done = run(["make", "--no-print-directory", "setup", f"PYTHON={fake_python(tmp_path, '3.9.6')}",
                f"VENV={venv}"], cwd=ROOT, env=env)
    assert done.returncode != 0
    assert "Python 3.9.6" in done.stderr and "nothing was downloaded" in done.stderr
    assert not venv.exists()
    assert "-m pip install" not in done.stdout + done.stderr and "Collecting" not in done.stdout


def test_preflight_range_is_what_the_lock_needs():
    """Every locked package installed here accepts the range the pre-flight enforces, and some
    need its lower end (so the range is neither too wide nor too narrow)."""
    text = (SCRIPTS / "check_python.sh").read_text()
    lo = int(re.search(r"^MIN_MINOR=(\d+)", text, re.M).group(1))
    hi = int(re.search(r"^MAX_MINOR=(\d+)", text, re.M).group(1))
    needs_lo = []
    for name in read_lock(ROOT / "requirements-lock.txt"):
        try:
            spec = metadata.metadata(name).get("Requires-Python")
        except metadata.PackageNotFoundError:
            continue
        if not spec:
            continue
        spec = SpecifierSet(spec)
        for minor in range(lo, hi + 1):
            assert spec.contains(f"3.{minor}.0"), f"{name} needs {spec}, the pre-flight allows 3.{minor}"
        if not spec.contains(f"3.{lo - 1}.99"):
            needs_lo.append(name)
    assert needs_lo, "nothing in the lock needs the pre-flight's lower bound"
    assert (lo, hi) == (11, 12)


# --- half-made .venv --------------------------------------------------------------------

def venv_state(path):
    return run(["bash", str(SCRIPTS / "ensure_venv.sh"), "--check", str(path)]).stdout.strip()


def test_half_made_venvs_are_recognised(tmp_path):
    assert venv_state(tmp_path / "none") == "missing"
    (tmp_path / "empty").mkdir()
    assert venv_state(tmp_path / "empty").startswith("broken: no ")
    old = tmp_path / "old" / "bin"
    old.mkdir(parents=True)
    shutil.copy(fake_python(tmp_path, "3.9.6"), old / "python")
    assert venv_state(tmp_path / "old").startswith("broken: Python 3.9")
    assert venv_state(ROOT / ".venv") == "ok"


def test_a_venv_without_pip_is_rebuilt(tmp_path):
    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "venv"
    assert run([base, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    assert venv_state(venv) == f"broken: no pip in {venv}"
    done = run(["bash", str(SCRIPTS / "ensure_venv.sh"), str(venv), base])
    assert done.returncode == 0, done.stderr
    assert "half-made (no pip" in done.stdout and "creating" in done.stdout
    assert venv_state(venv) == "ok"


# --- TORCH=cpu --------------------------------------------------------------------------

def test_torch_cpu_builds_the_pytorch_cpu_index_commands():
    mod = load_script("install_packages")
    lock = read_lock(ROOT / "requirements-lock.txt")
    commands, rest = mod.build_commands("cpu", python="py", system="Linux", installed={})
    first, second, third = commands
    assert first == ["py", "-m", "pip", "install", "--disable-pip-version-check", "--no-deps",
                     "--index-url", "https://download.pytorch.org/whl/cpu",
                     f"torch=={lock['torch']}", f"torchvision=={lock['torchvision']}"]
    assert second[-2:] == ["-r", "{filtered}"] and third[-3:] == ["--no-deps", "-e", str(ROOT)]
    names = {re.split(r"[=;]", line)[0] for line in rest}
    assert not any(n in ("torch", "torchvision", "triton") or n.startswith(("nvidia-", "cuda-")) for n in names)
    cuda = {n for n in lock if n in ("torch", "torchvision", "triton") or n.startswith(("nvidia-", "cuda-"))}
    assert cuda and len(rest) == len(lock) - len(cuda)

    # switching an existing CUDA install: the CUDA wheels go, torch is replaced
    commands, _ = mod.build_commands("cpu", python="py", system="Linux",
                                     installed={"torch": "2.14.1", "nvidia-cublas": "13.1", "numpy": "2.4.6"})
    assert commands[0] == ["py", "-m", "pip", "uninstall", "--disable-pip-version-check", "-y", "nvidia-cublas"]
    assert "--force-reinstall" in commands[1]
    commands, _ = mod.build_commands("cpu", python="py", system="Linux", installed={"torch": "2.14.1+cpu"})
    assert "--force-reinstall" not in commands[0]


def test_torch_default_and_other_platforms_install_the_lock_as_is():
    mod = load_script("install_packages")
    for torch, system in (("", "Linux"), ("cpu", "Darwin"), ("cpu", "Windows")):
        commands, rest = mod.build_commands(torch, python="py", system=system, installed={})
        assert commands[0][-2:] == ["-r", str(mod.LOCK)] and rest == []
        assert not any("download.pytorch.org" in part for cmd in commands for part in cmd)
    with pytest.raises(ValueError, match="TORCH must be"):
        mod.build_commands("cuda12", python="py")


def test_make_passes_torch_to_the_installer(tmp_path):
    done = run(["make", "-n", "--no-print-directory", "setup", "TORCH=cpu", f"VENV={tmp_path / 'v'}"], cwd=ROOT)
    assert "scripts/install_packages.py --torch cpu" in done.stdout
    dry = run([sys.executable, str(SCRIPTS / "install_packages.py"), "--torch", "cpu", "--dry-run"])
    if sys.platform.startswith("linux"):
        assert "would run:" in dry.stdout and "--index-url https://download.pytorch.org/whl/cpu" in dry.stdout


# --- no root for the font; the doctor's last word ----------------------------------------

def test_korean_font_goes_to_the_user_font_folder_without_root(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    share = tmp_path / "share"
    (fake / "id").write_text('#!/bin/sh\n[ "$1" = "-u" ] && echo 1000 || echo learner\n')
    # fontconfig sees only what is in the user's folder (no system Korean font)
    (fake / "fc-list").write_text(f'#!/bin/sh\nls {share}/fonts/nanum-course/*.ttf 2>/dev/null | sed "s/$/: NanumGothic/"\n')
    (fake / "fc-cache").write_text("#!/bin/sh\nexit 0\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}", HOME=str(tmp_path), XDG_DATA_HOME=str(share),
               PY=sys.executable)
    done = run(["bash", str(SCRIPTS / "setup_system.sh")], env=env)
    assert done.returncode == 0, done.stderr
    fonts = sorted(p.name for p in (share / "fonts" / "nanum-course").glob("*.ttf"))
    assert "NanumGothic.ttf" in fonts
    assert "installed for learner" in done.stdout
    again = run(["bash", str(SCRIPTS / "setup_system.sh")], env=env)
    assert "installed for" not in again.stdout   # already there: nothing to do


def test_final_report_prints_commands_per_platform_and_fails_without_dot():
    mod = load_script("finish_setup")
    ok = {"status": "OK", "found": "x", "fix": ""}
    rows = [dict(ok, component="Python"),
            dict(ok, component="graphviz dot", status="FAIL", found="not on PATH", fix="install graphviz"),
            dict(ok, component="Korean font (graphviz)", status="WARN", found="not found by fontconfig")]
    lines, failed = mod.report(rows)
    text = "\n".join(lines)
    assert failed == 1 and "the course cannot run yet" in text
    for platform, command in mod.SYSTEM_FIXES["graphviz dot"]:
        assert f"{platform}:" in text and command in text
    assert "sudo dnf install graphviz" in text and "brew install graphviz" in text
    assert "conda install -c conda-forge graphviz" in text
    lines, failed = mod.report([dict(ok, component="graphviz dot")])
    assert failed == 0 and lines == ["환경 점검 (make doctor): 1개 항목 모두 OK — 준비되었습니다."]
    lines, failed = mod.report(rows[:1] + rows[2:])
    assert failed == 0 and any("fonts-nanum" in line for line in lines)


# --- any Jupyter: the notebook finds course_utils one folder up --------------------------

def test_chapter_00_runs_under_strict_nbval_without_the_course_installed(tmp_path):
    """A Python with every package but not the editable install (like VS Code's Jupyter on a
    plain environment): its site-packages points at .venv's through a .pth line, so the
    `__editable__` finder there is never run."""
    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "plain"
    assert run([base, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "course-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["COURSE_OFFLINE"] = "1"
    probe = run([str(python), "-c", "import numpy, nbval, ipykernel\nimport course_utils"],
                cwd=ROOT / "notebooks", env=env)
    assert "No module named 'course_utils'" in probe.stderr   # packages yes, the course no
    done = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
                "--nbval-sanitize-with", "nbval_sanitize.cfg", "notebooks/00_getting_started.ipynb"],
               cwd=ROOT, env=env)
    assert done.returncode == 0, done.stdout[-6000:]
    assert re.search(r"\d+ passed", done.stdout)
