"""Stage 7 — report: the printed table and the CSV, with notes a submission cannot forge.

Every text that came from a submission (student name, error names, stderr lines) is passed
through :func:`clean` before it reaches the table or the CSV: control characters (newlines
included) become spaces, ``|`` becomes ``/``, and a leading ``= + - @`` (spreadsheet formulas)
gets a quote. The CSV is written by :class:`CsvWriter` one row per finished submission.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .chapters import PathLike, fmt, short

MAX_NOTE = 300


@dataclass
class GradeResult:
    """Scores of one submission: ``scores[exercise_id]``, ``max_points[exercise_id]``, notes."""

    student: str
    submission: str
    scores: Dict[str, float]
    max_points: Dict[str, float]
    notes: List[str]
    seconds: float = 0.0
    graded: Optional[Path] = None
    sha256: str = ""

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))

    @property
    def max_total(self) -> float:
        return float(sum(self.max_points.values()))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(text, limit: int = MAX_NOTE) -> str:
    """One safe line: no control characters or newlines, no ``|``, no leading formula sign,
    at most ``limit`` characters."""
    text = _CONTROL.sub(" ", str(text)).replace("|", "/")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if text[:1] in ("=", "+", "-", "@"):
        text = "'" + text
    return text


def notes_text(notes: Sequence[str]) -> str:
    return "; ".join(clean(n) for n in notes)


HEADER_FIXED = ["student", "submission", "chapter"]
HEADER_TAIL = ["total", "max_total", "seconds", "notes", "sha256"]


class CsvWriter:
    """Writes the scores CSV row by row (flushed after each row): header, ``(max)`` row, then
    one row per submission as it finishes."""

    def __init__(self, path: PathLike, chapter: str, max_points: Dict[str, float]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.keys = list(max_points)
        self.chapter = chapter
        self._fh = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)
        self._writer.writerow([*HEADER_FIXED, *self.keys, *HEADER_TAIL])
        total = sum(max_points.values())
        self._writer.writerow(["(max)", "", chapter, *[fmt(max_points[k]) for k in self.keys],
                               fmt(total), fmt(total), "", "", ""])
        self._fh.flush()

    def write(self, r: GradeResult) -> None:
        self._writer.writerow([clean(r.student), clean(r.submission, 1000), self.chapter,
                               *[fmt(r.scores.get(k, 0)) for k in self.keys], fmt(r.total),
                               fmt(r.max_total), f"{r.seconds:.1f}", notes_text(r.notes), r.sha256])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_csv(results: Sequence[GradeResult], path: PathLike, chapter: str = "") -> Path:
    """All rows at once (same format as :class:`CsvWriter`)."""
    max_points = dict(results[0].max_points) if results else {}
    with CsvWriter(path, chapter, max_points) as writer:
        for r in results:
            writer.write(r)
    return Path(path)


def format_table(results: Sequence[GradeResult]) -> str:
    """A plain-text table: one row per submission, one column per exercise (header shows the
    points available), total, and notes. Submission text is :func:`clean`-ed."""
    if not results:
        return "(no submissions)"
    keys = list(results[0].max_points)
    header = ["student", *[f"{short(k)} /{fmt(results[0].max_points[k])}" for k in keys],
              f"total /{fmt(results[0].max_total)}", "notes"]
    rows = [[clean(r.student, 60), *[fmt(r.scores.get(k, 0)) for k in keys], fmt(r.total),
             notes_text(r.notes) or "-"] for r in results]
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header) - 1)]
    lines = []
    for row in [header] + rows:
        cells = [str(v).ljust(w) for v, w in zip(row[:-1], widths)]
        lines.append(" | ".join(cells + [row[-1]]))
        if row is header:
            lines.append("-+-".join("-" * w for w in widths) + "-+------")
    return "\n".join(lines)
