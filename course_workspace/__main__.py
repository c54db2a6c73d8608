"""``python -m course_workspace build|check|lab`` (``make workspace``, ``make check``, ``make lab``)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("build", "check", "lab"):
        print("usage: python -m course_workspace build [--workspace DIR] | check [CHAPTER] | lab [--host H --port P]",
              file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "check":
        from .check import main as check_main

        return check_main(rest)
    if command == "lab":
        from .lab import main as lab_main

        return lab_main(rest)
    from .build import NbgraderMissing, build_workspace

    parser = argparse.ArgumentParser(prog="python -m course_workspace build")
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--notebooks", default=None)
    args = parser.parse_args(rest)
    try:
        build_workspace(args.workspace, args.notebooks)
    except NbgraderMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"make workspace: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
