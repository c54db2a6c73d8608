"""Text formatting shared by the diagrams, the doctor and the benchmarks.

- :func:`format_number` — one number as short text, with a fixed number of decimals
  (``0.6 → "0.60"``) or of significant digits (``220.00000000000003 → "220"``).
- :func:`format_table` — rows of cells as a plain-text table with aligned columns.
"""
from __future__ import annotations

import math
import re
from typing import Optional, Sequence

import numpy as np

from .checks import check_int

__all__ = ["format_number", "format_table"]

_NEGATIVE_ZERO = re.compile(r"^-(0(\.0*)?)$")


def format_number(value, decimals: Optional[int] = None, *, digits: Optional[int] = None) -> str:
    """Format one number for a label or a table cell.

    - ``decimals=d``: fixed point with ``d`` decimals — ``format_number(0.6, 2) == "0.60"``;
    - ``digits=k``: ``k`` significant digits, trailing zeros dropped (``%g``) —
      ``format_number(220.00000000000003, digits=4) == "220"``;
    - neither: 2 decimals.

    Whatever the mode, ints (Python or NumPy) print as ints (``3 → "3"``), bools as ``0``/``1``,
    strings pass through unchanged, ``nan``/``inf`` print as ``"nan"``/``"inf"``/``"-inf"``,
    and a value that rounds to zero never shows a minus sign (``-0.001 → "0.00"``). Anything
    with ``.item()`` and a single element (a 0-d array or tensor) is formatted as its number.

    Raises ``ValueError`` when both ``decimals`` and ``digits`` are given, ``TypeError``
    when ``value`` is not a number.
    """
    if decimals is not None and digits is not None:
        raise ValueError(f"give decimals or digits, not both (got decimals={decimals!r}, digits={digits!r})")
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if not isinstance(value, (float, np.floating)) and callable(getattr(value, "item", None)):
        if getattr(value, "size", None) == 1 or getattr(value, "shape", None) == ():
            return format_number(value.item(), decimals, digits=digits)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"value must be a number or a str, got {type(value).__name__}: {value!r:.80}") from None
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if digits is not None:
        text = f"{value:.{check_int('digits', digits, minimum=1)}g}"
    else:
        text = f"{value:.{check_int('decimals', 2 if decimals is None else decimals, minimum=0)}f}"
    match = _NEGATIVE_ZERO.match(text)
    return match.group(1) if match else text


def format_table(rows: Sequence[Sequence], headers: Sequence[str], *, align: Optional[str] = None,
                 max_width: Optional[int] = None, digits: int = 4) -> str:
    """Rows of cells as a plain-text table: a header line, a rule of dashes, one line per row.

    - ``rows``: a sequence of rows, each with as many cells as ``headers``. A str cell is
      printed as is; any other cell goes through :func:`format_number` with ``digits``
      significant digits (pre-format numbers with :func:`format_number` to choose decimals).
    - ``align``: one letter per column, ``"l"`` (left) or ``"r"`` (right); default: first
      column left, the others right (a label then numbers).
    - ``max_width``: cells longer than this are cut and end with ``"..."``.

    Columns are separated by two spaces; trailing spaces are stripped. Raises
    ``ValueError`` when a row's length or ``align`` does not match ``headers``.
    """
    headers = [str(h) for h in headers]
    n = len(headers)
    if align is None:
        align = "l" + "r" * (n - 1)
    if len(align) != n or set(align) - {"l", "r"}:
        raise ValueError(f"align must be {n} letters 'l' or 'r' (one per column), got {align!r}")
    if max_width is not None:
        max_width = check_int("max_width", max_width, minimum=4)
    cells = [headers]
    for k, row in enumerate(rows):
        row = list(row)
        if len(row) != n:
            raise ValueError(f"every row must have as many cells as headers ({n}); row {k} has {len(row)}: {row!r}")
        cells.append([c if isinstance(c, str) else format_number(c, digits=digits) for c in row])
    if max_width is not None:
        cells = [[c if len(c) <= max_width else c[:max_width - 3] + "..." for c in r] for r in cells]
    widths = [max(len(r[i]) for r in cells) for i in range(n)]
    lines = ["  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
