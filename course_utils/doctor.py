"""The environment doctor: is this machine ready for the course?

``python -m course_utils.doctor`` (or ``make doctor``) prints one table — Python and each
package against the lock file, graphviz's ``dot``, a Korean font, each data source, the
compute device — and exits non-zero when a required piece is missing, printing the command
that fixes each one. In a notebook, :func:`check` returns the same rows as a DataFrame.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

__all__ = ["check", "read_lock", "direct_dependencies", "normalize_name", "format_table", "main"]

REPO = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO / "requirements-lock.txt"
PYPROJECT = REPO / "pyproject.toml"
SUPPORTED_PYTHON = ((3, 10), (3, 12))
TESTED_PYTHON = (3, 11)


def normalize_name(name: str) -> str:
    """A package name in its canonical form (PEP 503): lower case, runs of ``-``, ``_`` and
    ``.`` replaced by one ``-`` — ``"Scikit_Learn"`` → ``"scikit-learn"``.

    The course's one normaliser: the doctor, ``scripts/make_lock.py`` and the packaging
    tests compare names through it. Raises ``TypeError`` unless ``name`` is a str.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a package name (str), got {type(name).__name__}: {name!r}")
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK_FILE) -> dict[str, str]:
    """``{normalised package name: exact version}`` from a ``name==version`` lock file.

    Environment markers (``; platform_system == "Linux"``) and comments are ignored.
    Returns ``{}`` when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*==\s*([^\s]+)", line)
        if match:
            pins[normalize_name(match.group(1))] = match.group(3)
    return pins


def direct_dependencies(path: Path = PYPROJECT) -> list[str]:
    """Normalised names of the direct dependencies declared in ``pyproject.toml``."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore
    path = Path(path)
    if not path.is_file():
        return []
    deps = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["dependencies"]
    return [normalize_name(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in deps]


def _row(component, status, found, expected="", fix=""):
    return {"component": component, "status": status, "found": found, "expected": expected, "fix": fix}


def _korean_font_rows() -> list[dict]:
    from .fonts import FONT_INSTALL_HINT, GRAPHVIZ_FONT, find_korean_font

    rows = []
    name = find_korean_font()
    rows.append(_row("Korean font (matplotlib)", "OK" if name else "FAIL", name or "none",
                     "NanumGothic or another Hangul font", "" if name else FONT_INSTALL_HINT.splitlines()[0]))
    fc = shutil.which("fc-list")
    families = ""
    if fc:
        try:
            families = subprocess.run([fc, ":lang=ko", "family"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
            families = ""
    ok = GRAPHVIZ_FONT.lower() in families.lower()
    rows.append(_row("Korean font (graphviz)", "OK" if ok else "WARN",
                     GRAPHVIZ_FONT if ok else "not found by fontconfig", GRAPHVIZ_FONT,
                     "" if ok else "sudo apt-get install fonts-nanum"))
    return rows


def check(lock_file: Optional[Path] = None) -> "pandas.DataFrame":
    """Run every check and return a DataFrame with columns
    ``component, status, found, expected, fix``; status is ``OK``, ``WARN`` or ``FAIL``.

    FAIL marks a required piece that is missing (the course cannot run without it); WARN a
    difference that may change results (a version other than the lock) or an optional piece.
    """
    import pandas as pd

    rows = []
    v = sys.version_info
    lo, hi = SUPPORTED_PYTHON
    ok = lo <= (v.major, v.minor) <= hi
    tested = (v.major, v.minor) == TESTED_PYTHON
    rows.append(_row("Python", "OK" if tested else ("WARN" if ok else "FAIL"), f"{v.major}.{v.minor}.{v.micro}",
                     "3.11 (3.10–3.12 supported)", "" if ok else "install Python 3.11, then: rm -rf .venv && make setup PYTHON=python3.11"))

    pins = read_lock(lock_file or LOCK_FILE)
    for name in direct_dependencies():
        want = pins.get(name, "")
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            rows.append(_row(f"package {name}", "FAIL", "not installed", want, "make setup"))
            continue
        base = have.split("+", 1)[0]
        status = "OK" if not want or base == want.split("+", 1)[0] else "WARN"
        rows.append(_row(f"package {name}", status, have, want, "" if status == "OK" else "make setup"))

    from .graphs import DOT_INSTALL_HINT, DotNotFoundError, check_dot

    try:
        rows.append(_row("graphviz dot", "OK", check_dot(), "any 2.4x+"))
    except DotNotFoundError:
        rows.append(_row("graphviz dot", "FAIL", "not on PATH", "any 2.4x+", DOT_INSTALL_HINT.splitlines()[1].strip()))

    rows.extend(_korean_font_rows())

    from .data import status as data_status

    for item in data_status():
        absent_optional = not item["required"] and not item["ok"] and "not present" in item["detail"]
        state = "OK" if item["ok"] or absent_optional else ("FAIL" if item["required"] else "WARN")
        rows.append(_row(f"data: {item['name']}", state, item["detail"], "required" if item["required"] else "optional",
                         item["fix"] if state != "OK" else ""))

    try:
        import torch

        from .repro import get_device

        device = get_device()
        detail = f"{device.type} (torch {torch.__version__}, {torch.get_num_threads()} threads)"
        if device.type == "cuda":  # pragma: no cover - no GPU in CI
            detail += f", {torch.cuda.get_device_name(0)}"
        rows.append(_row("device", "OK", detail, "cpu, cuda or mps"))
    except Exception as exc:  # pragma: no cover - torch broken
        rows.append(_row("device", "FAIL", f"torch unusable: {exc}", "cpu, cuda or mps", "make setup"))
    return pd.DataFrame(rows, columns=["component", "status", "found", "expected", "fix"])


def format_table(report) -> str:
    """Render :func:`check`'s DataFrame as a plain-text table: a header, a rule, one line per
    row (``course_utils.fmt.format_table``, cells cut at 60 characters)."""
    from .fmt import format_table as _format_table

    columns = ["component", "status", "found", "expected"]
    rows = [[str(r[c]) for c in columns] for _, r in report.iterrows()]
    return _format_table(rows, columns, align="llll", max_width=60)


def main(argv=None) -> int:
    report = check()
    print(format_table(report))
    problems = report[report["status"] != "OK"]
    if len(problems):
        print()
        for _, r in problems.iterrows():
            if r["fix"]:
                print(f"{r['status']}: {r['component']}: fix with: {r['fix']}")
    failed = int((report["status"] == "FAIL").sum())
    print()
    print("all required pieces are present." if not failed else f"{failed} required piece(s) missing.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
