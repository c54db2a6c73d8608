#!/usr/bin/env python3
"""Execute notebooks in place, storing their outputs (what `make execute` runs).

usage: python scripts/execute_notebooks.py [NOTEBOOK_OR_FOLDER ...]   (default: notebooks/)

Each notebook runs in a fresh kernel of this Python, with notebooks/ as working directory
and COURSE_OFFLINE=1 (so the stored outputs are the offline ones CI reproduces). Prints the
seconds each took. Stops at the first notebook that fails, leaving it unchanged.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def notebooks(args: list[str]) -> list[Path]:
    targets = [Path(a) for a in args] or [ROOT / "notebooks"]
    found = []
    for t in targets:
        found.extend(sorted(t.glob("[0-9][0-9]_*.ipynb")) if t.is_dir() else [t])
    return found


def main(argv: list[str]) -> int:
    os.environ.setdefault("COURSE_OFFLINE", "1")
    total = 0.0
    for path in notebooks(argv):
        nb = nbformat.read(path, as_version=4)
        # one kernelspec for every chapter; authoring-tool metadata is not kept
        nb.metadata["kernelspec"] = KERNELSPEC
        nb.metadata.pop("jupytext", None)
        start = time.perf_counter()
        client = NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        client.execute()
        seconds = time.perf_counter() - start
        total += seconds
        nbformat.write(nb, path)
        print(f"{path}: executed in {seconds:.1f} s")
    print(f"total: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
