#!/usr/bin/env python3
"""Time the grader on a class: N submissions of one chapter, with and without the sandbox.

usage: python benchmarks/grade_class.py [--chapter 05] [--n 40] [--jobs N] [--cell-timeout 10]
                                        [--modes sandbox,plain] [--overhead PAIRS]

The class is built from the chapter's student release, whatever the chapter's exercises are:

- honest  — every solution cell is the instructor's solution (scores full marks);
- stub    — the release untouched (scores 0);
- altered — the instructor's solutions with every ``return ...`` turned into ``return None``;
- looping — honest, but one solution cell starts with ``while True: pass`` (that exercise
  hits the per-cell time limit).

Mix for n=40: 20 honest, 6 stub, 6 altered, 8 looping. Each mode grades the same files with
``--jobs`` workers; printed: wall time for the batch, wall time per submission (batch / n),
median and max of the per-submission times, and the sandbox's overhead.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_grader.chapters import nbgrader_meta, read_notebook, resolve_chapter  # noqa: E402
from course_grader.grade import autograde, default_jobs  # noqa: E402
from course_grader.release import student_edition  # noqa: E402

_REGION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)


def _solution(source: str) -> str:
    """The instructor's solution cell as a student would hand it in (markers removed)."""
    return _REGION.sub("", source)


def class_mix(n: int) -> list[str]:
    """Kinds for ``n`` submissions: half honest, 15 % stub, 15 % altered, 20 % looping."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 4:
        raise ValueError(f"n must be an integer >= 4, got {n!r}")
    loop = max(1, round(n * 0.2))
    stub = max(1, round(n * 0.15))
    altered = max(1, round(n * 0.15))
    honest = n - loop - stub - altered
    return ["honest"] * honest + ["stub"] * stub + ["altered"] * altered + ["looping"] * loop


def build_class(chapter: Path, n: int, folder: Path) -> list[Path]:
    """Write ``n`` submissions (``sNN_<kind>.ipynb``) of ``chapter`` into ``folder``."""
    instructor = read_notebook(chapter)
    release = student_edition(instructor, name=chapter.name)
    solutions = {nbgrader_meta(c)["grade_id"]: _solution(c.source) for c in instructor.cells
                 if nbgrader_meta(c).get("solution") and c.cell_type == "code"}
    if not solutions:
        raise ValueError(f"{chapter.name} has no code solution cells")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, kind in enumerate(class_mix(n)):
        nb = nbformat.from_dict(nbformat.reads(nbformat.writes(release), 4))
        ids = [g for g in solutions]
        for cell in nb.cells:
            gid = nbgrader_meta(cell).get("grade_id")
            if gid not in solutions:
                continue
            if kind in ("honest", "looping"):
                cell.source = solutions[gid]
            elif kind == "altered":
                cell.source = re.sub(r"\breturn\b[^\n]*", "return None", solutions[gid])
            if kind == "looping" and gid == ids[i % len(ids)]:
                cell.source = "while True:\n    pass\n" + cell.source
        path = folder / f"s{i:02d}_{kind}.ipynb"
        nbformat.write(nb, str(path))
        paths.append(path)
    return paths


def kernel_overhead(chapter: Path, pairs: int = 6) -> tuple[list[float], list[float]]:
    """Seconds to start a kernel and run one small cell, sandbox and plain, interleaved
    (``pairs`` of each, so both see the same machine load)."""
    from course_grader.run import run_submission

    code = "import numpy as np, course_utils\nprint(np.arange(10).sum())"
    times: dict = {True: [], False: []}
    for i in range(pairs):
        for sandbox in (True, False):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
            start = time.perf_counter()
            run_submission(nb, chapter, sandbox=sandbox, slot=i)
            times[sandbox].append(time.perf_counter() - start)
    return times[True], times[False]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default="05")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--cell-timeout", type=float, default=10.0)
    parser.add_argument("--modes", default="sandbox,plain")
    parser.add_argument("--overhead", type=int, default=0, metavar="PAIRS",
                        help="also time PAIRS interleaved sandbox/plain kernel starts")
    args = parser.parse_args(argv)
    chapter = resolve_chapter(args.chapter)
    if args.overhead:
        boxed, plain = kernel_overhead(chapter, args.overhead)
        diffs = [a - b for a, b in zip(boxed, plain)]
        print(f"kernel start + one cell, {args.overhead} interleaved pairs: sandbox median "
              f"{statistics.median(boxed):.2f} s, plain {statistics.median(plain):.2f} s, "
              f"sandbox cost {statistics.median(diffs):+.2f} s (median of pair differences)")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="grade-class-") as tmp:
        subs = build_class(chapter, args.n, Path(tmp) / "subs")
        kinds = [p.stem.split("_", 1)[1] for p in subs]
        print(f"{chapter.stem}: {len(subs)} submissions "
              f"({', '.join(f'{k} {kinds.count(k)}' for k in dict.fromkeys(kinds))}), "
              f"--jobs {args.jobs}, --cell-timeout {args.cell_timeout:g}")
        rows = {}
        for mode in modes:
            start = time.perf_counter()
            results = autograde(chapter, subs, cell_timeout=args.cell_timeout, jobs=args.jobs,
                                sandbox=(mode == "sandbox"), out=Path(tmp) / mode, quiet=True)
            wall = time.perf_counter() - start
            per = [r.seconds for r in results]
            totals = {k: sorted({r.total for r, kk in zip(results, kinds) if kk == k}) for k in dict.fromkeys(kinds)}
            rows[mode] = (wall, wall / len(subs), statistics.median(per), max(per))
            print(f"  {mode:8s} batch {wall:7.1f} s | per submission {wall / len(subs):5.2f} s "
                  f"(median own time {statistics.median(per):5.1f} s, max {max(per):5.1f} s) | "
                  f"totals by kind {totals}")
        if "sandbox" in rows and "plain" in rows:
            extra = rows["sandbox"][0] - rows["plain"][0]
            print(f"  sandbox overhead: {extra:+.1f} s per batch, {extra / len(subs):+.2f} s per submission "
                  f"({100 * extra / rows['plain'][0]:+.0f} %), median own time "
                  f"{rows['sandbox'][2] - rows['plain'][2]:+.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
