#!/usr/bin/env python3
"""Execute notebooks in place, storing their outputs (what `make execute` runs).

usage: python scripts/execute_notebooks.py [NOTEBOOK_OR_FOLDER ...]   (default: notebooks/)

A thin caller of the course's one notebook runner (:mod:`course_grader.runner`, also used by the
grader and the tests): each notebook runs in a fresh kernel of this virtualenv's own Python
(never a registered ``python3`` kernelspec), with its folder as working directory, the runner's
environment (COURSE_OFFLINE=1, one BLAS/OpenMP thread) and time limits (900 s per notebook,
60 s per exercise cell). Prints the seconds each took. Stops at the first notebook that fails,
leaving it unchanged.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_grader.runner import execute_in_place, notebooks_in  # noqa: E402


def main(argv: list[str]) -> int:
    total = 0.0
    for path in notebooks_in(argv, ROOT / "notebooks"):
        try:
            seconds = execute_in_place(path)
        except RuntimeError as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            return 1
        total += seconds
        print(f"{path}: executed in {seconds:.1f} s")
    print(f"total: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
