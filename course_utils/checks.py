"""Argument checks shared by ``course_utils`` and the benchmarks.

Each function returns the checked value (an ``int``, a list of ints, an array) or raises
with a message that names the argument, says what was expected and shows what was given:

- ``TypeError`` when the value is the wrong kind of thing (``2.5`` or ``"3"`` where an int
  is needed, a string where an array is needed);
- ``ValueError`` when it is the right kind but a wrong value or shape (``0`` where a
  positive int is needed, shape ``(2, 3)`` where ``(3, 2)`` is needed).

``bool`` is refused wherever an int is expected (``True`` is an int to Python, but never a
count the caller meant).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

__all__ = ["check_int", "positive_int", "int_list", "check_shape", "as_array", "shape_text"]

Dim = Union[int, str, None]


def _int_wanted(minimum: Optional[int], maximum: Optional[int]) -> str:
    if minimum is not None and maximum is not None:
        return f"an int in {minimum} … {maximum}"
    if minimum == 1:
        return "a positive int"
    if minimum == 0:
        return "a non-negative int"
    if minimum is not None:
        return f"an int ≥ {minimum}"
    if maximum is not None:
        return f"an int ≤ {maximum}"
    return "an int"


def check_int(name: str, value, *, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """Return ``value`` as a Python ``int`` when it is an int in ``minimum … maximum``.

    ``check_int("digits", 0, minimum=1, maximum=12)`` raises
    ``ValueError("digits must be an int in 1 … 12, got 0")``; a float, string or bool raises
    ``TypeError`` with the same wording and the type given. NumPy integers are accepted.
    """
    wanted = _int_wanted(minimum, maximum)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {wanted}, got {type(value).__name__}: {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {wanted}, got {value}")
    return value


def positive_int(name: str, value) -> int:
    """``check_int(name, value, minimum=1)``: a count such as a batch size, a width or a repeat."""
    return check_int(name, value, minimum=1)


def int_list(name: str, values, *, min_len: int = 1, minimum: Optional[int] = 1,
             example: str = "") -> list[int]:
    """Return ``values`` (a list or tuple of ints, e.g. layer sizes) as a list of Python ints.

    At least ``min_len`` entries, each ``≥ minimum``. A string, a number or a set raises
    ``TypeError``; too few entries raise ``ValueError``; a bad entry raises the error of
    :func:`check_int` naming it as ``name[i]``. ``example`` (e.g. ``"[2, 3, 1]"``) is quoted
    in the messages.
    """
    such_as = f" such as {example}" if example else ""
    if isinstance(values, (str, bytes, dict, set, frozenset)) or not hasattr(values, "__len__") \
            or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of ints{such_as}, got {type(values).__name__}: {values!r}")
    values = list(values)
    if len(values) < min_len:
        raise ValueError(f"{name} must hold at least {min_len} ints{such_as}, got {values}")
    return [check_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(values)]


def shape_text(shape: Sequence[Dim]) -> str:
    """``(3, 2)`` → ``"(3, 2)"``, ``("n", 2)`` → ``"(n, 2)"``, ``(5,)`` → ``"(5,)"``; ``None`` prints as ``"…"``."""
    parts = ["…" if d is None else str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def check_shape(name: str, array, shape: Sequence[Dim], *, note: str = "") -> tuple[int, ...]:
    """Check ``array.shape`` against ``shape`` and return the actual shape as a tuple.

    ``shape`` holds one entry per dimension: an int (that exact size), ``None`` (any size)
    or a letter such as ``"n"`` (any size, but the same letter must be the same size every
    time it appears). ``check_shape("X", X, ("n", 2))`` raises
    ``ValueError("X must have shape (n, 2), got (5, 3)")``; ``note`` is appended to the
    expected shape (e.g. ``" (out, in)"``). Works on NumPy arrays and torch tensors alike;
    an object without ``.shape`` raises ``TypeError``.
    """
    got = getattr(array, "shape", None)
    if got is None:
        raise TypeError(f"{name} must be an array of shape {shape_text(shape)}{note}, got {type(array).__name__}")
    got = tuple(int(d) for d in got)
    ok = len(got) == len(shape)
    bound: dict[str, int] = {}
    for want, have in zip(shape, got):
        if not ok:
            break
        if isinstance(want, str):
            ok = bound.setdefault(want, have) == have
        elif want is not None:
            ok = int(want) == have
    if not ok:
        raise ValueError(f"{name} must have shape {shape_text(shape)}{note}, got {shape_text(got)}")
    return got


def as_array(name: str, value, shape: Optional[Sequence[Dim]] = None, *, dtype=float, note: str = "") -> np.ndarray:
    """``np.asarray(value, dtype=dtype)``, then :func:`check_shape` when ``shape`` is given.

    Values that do not convert (strings, ragged lists, ``None``) raise ``TypeError`` naming
    ``name``; a wrong shape raises ``ValueError``. A torch tensor is detached and copied to
    the CPU first.
    """
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    wanted = f" of shape {shape_text(shape)}{note}" if shape is not None else ""
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers{wanted}, got {type(value).__name__}: "
                        f"{value!r:.80}") from None
    if shape is not None:
        check_shape(name, array, shape, note=note)
    return array
