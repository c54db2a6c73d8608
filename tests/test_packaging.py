"""The course's dependency declarations agree with each other."""
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from course_utils.doctor import normalize_name, read_lock

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = read_lock(ROOT / "requirements-lock.txt")
ENV = yaml.safe_load((ROOT / "environment.yml").read_text())
CONDA_TO_PIP = {"python-graphviz": "graphviz", "pytorch": "torch"}


def env_pins():
    conda, pip = {}, {}
    for dep in ENV["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if "==" in line:
                    name, version = line.split("#")[0].strip().split("==")
                    pip[normalize_name(name)] = version.strip()
            continue
        name, _, version = dep.partition("=")
        conda[normalize_name(CONDA_TO_PIP.get(name, name))] = version
    return conda, pip


def test_python_versions_declared():
    assert PYPROJECT["project"]["requires-python"] == ">=3.10,<3.13"
    assert "python=3.11" in ENV["dependencies"]


def all_direct(extras=None):
    """Requirement strings of the default dependencies and of the named extras (all: None)."""
    groups = PYPROJECT["project"].get("optional-dependencies", {})
    names = groups if extras is None else extras
    return list(PYPROJECT["project"]["dependencies"]) + [d for g in names for d in groups[g]]


def test_dependency_split_light_default_instructor_dev():
    """The default set is what the notebooks need; grading and test tools are extras."""
    def names(specs):
        return {normalize_name(Requirement(s).name) for s in specs}

    default = names(PYPROJECT["project"]["dependencies"])
    extras = {k: names(v) for k, v in PYPROJECT["project"]["optional-dependencies"].items()}
    assert {"torch", "numpy", "matplotlib", "graphviz", "jupyterlab", "koreanize-matplotlib"} <= default
    assert not default & {"nbgrader", "nbval", "pytest", "jupytext", "pytest-xdist", "selenium", "sphinx"}
    assert "nbgrader" in extras["instructor"]
    assert {"pytest", "nbval", "jupytext", "pytest-xdist", "selenium"} <= extras["dev"]


def test_every_direct_dependency_is_locked_within_its_range():
    for spec in all_direct():
        req = Requirement(spec)
        name = normalize_name(req.name)
        assert name in LOCK, f"{name} is not in requirements-lock.txt"
        assert req.specifier.contains(LOCK[name], prereleases=True), f"{name}=={LOCK[name]} outside {req.specifier}"


def test_required_pins():
    assert LOCK["torch"] == "2.14.1" and LOCK["torchvision"] == "0.29.1"


def test_environment_yml_matches_the_lock():
    conda, pip = env_pins()
    # the conda environment is the learner's: default dependencies + the instructor extra
    direct = [normalize_name(Requirement(s).name) for s in all_direct(["instructor"])]
    for name in direct:
        version = conda.get(name) or pip.get(name)
        assert version, f"{name} is missing from environment.yml"
        assert version == LOCK[name], f"{name}: environment.yml has {version}, the lock has {LOCK[name]}"
    for name, version in {**conda, **pip}.items():
        if name in LOCK:
            assert version == LOCK[name], f"{name}: environment.yml has {version}, the lock has {LOCK[name]}"


def test_environment_yml_has_the_dot_binary_and_conda_forge():
    assert ENV["channels"] == ["conda-forge"]
    names = [d.split("=")[0] for d in ENV["dependencies"] if isinstance(d, str)]
    assert "graphviz" in names and "python-graphviz" in names


def test_cuda_wheels_are_marked_linux_only():
    text = (ROOT / "requirements-lock.txt").read_text()
    for line in text.splitlines():
        if line.startswith(("nvidia-", "triton", "cuda-")):
            assert 'platform_system == "Linux"' in line, line


def test_a_disagreement_is_detected(monkeypatch):
    """The check above can fail: a changed pin is reported."""
    conda, pip = env_pins()
    name = "numpy"
    assert conda[name] == LOCK[name]
    monkeypatch.setitem(LOCK, name, "0.0.0")
    with pytest.raises(AssertionError, match="numpy: environment.yml has"):
        test_environment_yml_matches_the_lock()


@pytest.mark.parametrize("name, canonical", [("Scikit_Learn", "scikit-learn"), ("zope.interface", "zope-interface"),
                                             ("koreanize--matplotlib", "koreanize-matplotlib"), ("torch", "torch")])
def test_normalize_name_is_pep_503(name, canonical):
    assert normalize_name(name) == canonical


def test_normalize_name_refuses_a_non_str():
    with pytest.raises(TypeError, match="name must be a package name"):
        normalize_name(None)
