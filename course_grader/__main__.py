"""Command line: ``python -m course_grader index|release|autograde`` (see ``--help``)."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .chapters import NOTEBOOKS, find_chapters, index_markdown, resolve_chapter
from .grade import autograde
from .release import release
from .run import DEFAULT_CELL_TIMEOUT, DEFAULT_TIMEOUT


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grader",
                                     description="Student releases and offline autograding (nbgrader format).")
    sub = parser.add_subparsers(dest="command", required=True)
    p_index = sub.add_parser("index", help="list exercises and points per chapter")
    p_index.add_argument("chapters", nargs="*")
    p_rel = sub.add_parser("release", help="write student copies to release/")
    p_rel.add_argument("chapters", nargs="*")
    p_rel.add_argument("--out", default=None, help="output folder (default: release/)")
    p_auto = sub.add_parser("autograde", help="grade handed-in notebooks of one chapter")
    p_auto.add_argument("chapter")
    p_auto.add_argument("submissions", nargs="+")
    p_auto.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"time limit per notebook in seconds (default {DEFAULT_TIMEOUT:g})")
    p_auto.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                        help=f"time limit per exercise cell in seconds (default {DEFAULT_CELL_TIMEOUT:g})")
    p_auto.add_argument("--csv", default=None, help="CSV path (default autograded/<chapter>/scores.csv)")
    p_auto.add_argument("--out", default=None, help="folder for graded notebooks (default autograded/)")
    p_auto.add_argument("--jobs", "-j", type=int, default=None,
                        help="submissions graded at once, each in its own sandbox (default: cores)")
    box = p_auto.add_mutually_exclusive_group()
    box.add_argument("--sandbox", dest="sandbox", action="store_true", default=None,
                     help="require the bubblewrap sandbox (default: use it when available)")
    box.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                     help="run student code without isolation (trusted submissions only)")
    args = parser.parse_args(argv)
    try:
        if args.command == "index":
            chapters = [resolve_chapter(c) for c in args.chapters] if args.chapters else find_chapters()
            if not chapters:
                print(f"no chapter notebooks with nbgrader exercises in {NOTEBOOKS}", file=sys.stderr)
                return 1
            print(index_markdown(chapters), end="")
        elif args.command == "release":
            release(args.chapters or None, out=args.out)
        else:
            autograde(args.chapter, args.submissions, timeout=args.timeout,
                      cell_timeout=args.cell_timeout, csv_path=args.csv, out=args.out,
                      jobs=args.jobs, sandbox=args.sandbox)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:  # OSError: disk full, permissions
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
