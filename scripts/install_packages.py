#!/usr/bin/env python3
"""Install the course's locked packages into the running Python (``make setup``).

    .venv/bin/python scripts/install_packages.py [--torch cpu] [--dry-run]

Default: ``pip install -r requirements-lock.txt`` then the course itself (``pip install
--no-deps -e .``) — every locked package, the instructor and test tools included.

``--torch cpu`` (``make setup TORCH=cpu``, Linux, online): PyTorch's CPU-only wheels from
PyTorch's own package index instead of PyPI's CUDA build and its NVIDIA libraries. torch and
torchvision come from that index at the locked versions (``--no-deps``: their dependencies are
the lock's), then the rest of the lock minus torch, torchvision and the CUDA wheels
(``nvidia-*``, ``cuda-*``, ``triton``). The choice is remembered in the venv
(``.course-torch``), so a later ``make setup`` does not bring the CUDA wheels back. On macOS
and Windows PyPI's torch has no CUDA libraries, so ``--torch cpu`` changes nothing there.

``--dry-run`` prints the commands without running them (tests/test_setup.py uses
:func:`build_commands`).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_PACKAGES = ("torch", "torchvision")
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
CHOICE_FILE = ".course-torch"
PIP = ["-m", "pip", "install", "--disable-pip-version-check"]


def _name(line: str) -> Optional[str]:
    """Normalised package name of a ``name==version`` lock line, or None for comments."""
    text = line.split("#", 1)[0].strip()
    match = re.match(r"([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*==", text)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def _pin(lines: List[str], name: str) -> str:
    for line in lines:
        if _name(line) == name:
            return line.split("#", 1)[0].split(";", 1)[0].strip()
    raise ValueError(f"{name} is not pinned in the lock file")


def installed_packages() -> Dict[str, str]:
    """``{normalised name: version}`` of the distributions in the running Python."""
    from importlib import metadata

    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return found


def build_commands(torch: str = "", python: str = sys.executable, lock: Path = LOCK,
                   system: Optional[str] = None, installed: Optional[Dict[str, str]] = None
                   ) -> Tuple[List[List[str]], List[str]]:
    """``(commands, filtered_lock_lines)`` for ``torch`` = ``""`` (lock as is) or ``"cpu"``.

    ``commands`` are argument lists; a ``{filtered}`` argument stands for a requirements file
    holding ``filtered_lock_lines`` (empty list when no such file is needed). ``system`` is
    ``platform.system()`` and ``installed`` :func:`installed_packages` by default: with
    ``torch="cpu"`` a torch that is not a ``+cpu`` build is replaced (``--force-reinstall``)
    and CUDA wheels already installed are removed first. Raises ValueError for another
    ``torch`` value."""
    if torch not in ("", "cpu"):
        raise ValueError(f"TORCH must be empty or 'cpu', got {torch!r}")
    system = platform.system() if system is None else system
    editable = [python, *PIP, "--no-deps", "-e", str(ROOT)]
    if torch != "cpu" or system != "Linux":
        return [[python, *PIP, "-r", str(lock)], editable], []
    installed = installed_packages() if installed is None else installed
    lines = Path(lock).read_text(encoding="utf-8").splitlines()
    pins = [_pin(lines, name) for name in TORCH_PACKAGES]
    rest = [line for line in lines
            if _name(line) and _name(line) not in TORCH_PACKAGES and not CUDA_ONLY.match(_name(line))]
    commands = []
    cuda = sorted(name for name in installed if CUDA_ONLY.match(name))
    if cuda:
        commands.append([python, "-m", "pip", "uninstall", "--disable-pip-version-check", "-y", *cuda])
    force = ["--force-reinstall"] if any(name in installed and not installed[name].endswith("+cpu")
                                         for name in TORCH_PACKAGES) else []
    commands += [[python, *PIP, "--no-deps", *force, "--index-url", TORCH_CPU_INDEX, *pins],
                 [python, *PIP, "-r", "{filtered}"],
                 editable]
    return commands, rest


def remembered_choice(prefix: str = sys.prefix) -> str:
    """The TORCH choice stored in the venv by an earlier run (``""`` when none)."""
    path = Path(prefix) / CHOICE_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", default=None, help="'cpu': PyTorch's CPU-only wheels (Linux)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    torch = remembered_choice() if args.torch is None else args.torch.strip().lower()
    if torch == "cuda":
        torch = ""
    try:
        commands, filtered = build_commands(torch)
    except ValueError as exc:
        print(f"make setup: {exc}", file=sys.stderr)
        return 2
    if torch == "cpu" and platform.system() != "Linux":
        print(f"TORCH=cpu: PyPI's torch for {platform.system()} has no CUDA libraries; installing the lock as is.")
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements-without-cuda.txt"
        req.write_text("\n".join(filtered) + "\n", encoding="utf-8")
        for cmd in commands:
            cmd = [str(req) if part == "{filtered}" else part for part in cmd]
            shown = " ".join(cmd).replace(str(req), "<requirements-lock.txt without torch, torchvision, nvidia-*, cuda-*, triton>")
            print(("would run: " if args.dry_run else "") + shown, flush=True)
            if not args.dry_run:
                done = subprocess.run(cmd)
                if done.returncode:
                    return done.returncode
    if not args.dry_run:
        (Path(sys.prefix) / CHOICE_FILE).write_text(torch + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
