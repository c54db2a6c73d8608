"""``make lab``: JupyterLab on the learner workspace, without the instructor tooling.

:func:`lab_command` builds the command line (tests inspect it); ``python -m course_workspace lab``
refreshes the workspace (:func:`course_workspace.build.build_workspace`) and runs it.

The learner's JupyterLab differs from a plain ``jupyter lab`` only through command-line
options, so nothing in the user's or the environment's Jupyter configuration changes:

- ``--LabApp.app_settings_dir=course_workspace/lab_settings``: its ``page_config.json``
  disables nbgrader's and Jupytext's lab extensions, its ``overrides.json`` opens Markdown
  rendered;
- ``--ServerApp.jpserver_extensions=<nbgrader module>=False`` for nbgrader's server extensions;
- ``--LabApp.default_url=/lab/tree/00_목차.md``: the address printed (and opened) shows
  the landing page.

``instructor=True`` (``make lab-instructor``) opens ``notebooks/`` with everything enabled.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional
from urllib.parse import quote

from .build import INDEX, NOTEBOOKS, WORKSPACE, NbgraderMissing, PathLike, build_workspace

LAB_SETTINGS = Path(__file__).resolve().parent / "lab_settings"
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.validate_assignment",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
)


def lab_command(workspace: Optional[PathLike] = None, host: str = "127.0.0.1", port: int = 8888,
                instructor: bool = False, allow_root: Optional[bool] = None,
                python: str = sys.executable) -> List[str]:
    """The ``jupyter lab`` command line for the learner (or, ``instructor=True``, the instructor)."""
    if allow_root is None:
        allow_root = hasattr(os, "geteuid") and os.geteuid() == 0
    folder = Path(workspace) if workspace is not None else (NOTEBOOKS if instructor else WORKSPACE)
    cmd = [python, "-m", "jupyterlab", f"--notebook-dir={folder}", f"--ip={host}", f"--port={port}",
           "--no-browser"]
    if not instructor:
        cmd.append(f"--LabApp.app_settings_dir={LAB_SETTINGS}")
        cmd += [f"--ServerApp.jpserver_extensions={name}=False" for name in NBGRADER_SERVER_EXTENSIONS]
        if (folder / INDEX).is_file():
            cmd.append(f"--LabApp.default_url=/lab/tree/{quote(INDEX)}")
    if allow_root:
        cmd.append("--allow-root")
    return cmd


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_workspace lab",
                                     description="open JupyterLab on the learner workspace")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--instructor", action="store_true", help="notebooks/ with nbgrader's tools")
    parser.add_argument("--print", action="store_true", help="print the command, do not run it")
    args = parser.parse_args(argv)
    if not args.instructor:
        try:
            build_workspace(args.workspace)
        except NbgraderMissing as exc:
            print(exc, file=sys.stderr)
            return 2
    cmd = lab_command(args.workspace, args.host, args.port, instructor=args.instructor)
    if args.print:
        print(" ".join(cmd))
        return 0
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:  # pragma: no cover - Ctrl+C stops the server
        return 0
