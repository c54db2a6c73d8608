"""Numerical gradients by central differences, and gradient-check reports.

The course computes gradients three ways — numerically, by a hand-written backward pass,
and with PyTorch autograd — and compares them. This module does the numerical side and the
comparison; the backward passes themselves are written in the notebooks.
"""
from __future__ import annotations

from typing import Callable, Mapping, Union

import numpy as np

__all__ = ["numerical_gradient", "gradient_check", "relative_error", "OK_THRESHOLD", "WARN_THRESHOLD"]

#: relative error at or below this: the two gradients agree ("ok").
OK_THRESHOLD = 1e-7
#: between OK_THRESHOLD and this: "check" (often fine in float32 or near a kink); above: "wrong".
WARN_THRESHOLD = 1e-4

Params = Union[np.ndarray, Mapping[str, Union[float, np.ndarray]]]


def _float_array(name: str, value) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array or a Python number, got {type(value).__name__}")
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{name} must be a float array (a step of h cannot be added to {value.dtype}); "
                        f"convert it with .astype(float)")
    return value


def numerical_gradient(f: Callable, params: Params, h: float = 1e-5):
    """Central-difference gradient ``(f(θ+h) − f(θ−h)) / 2h`` of a scalar function.

    ``params`` is either

    - a float ``np.ndarray`` of any shape: ``f(params)`` is called with the array changed
      in place one entry at a time; the result is an array of the same shape; or
    - a dict ``{name: float or float ndarray}``: ``f(params)`` is called with a dict in which
      one entry differs; the result is a dict of the same keys and shapes.

    ``f`` must return a real number. The parameters are restored afterwards, also when
    ``f`` raises. Cost: ``2 × (number of scalar parameters)`` calls of ``f``.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not (isinstance(h, (float, int)) and h > 0):
        raise ValueError(f"h must be a positive number, got {h!r}")

    def call(p) -> float:
        value = f(p)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TypeError(f"f must return a scalar, got {type(value).__name__} {np.shape(value)}") from None

    def grad_array(array: np.ndarray, evaluate) -> np.ndarray:
        grad = np.zeros_like(array, dtype=float)
        it = np.nditer(array, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = array[idx]
            try:
                array[idx] = old + h
                plus = evaluate()
                array[idx] = old - h
                minus = evaluate()
            finally:
                array[idx] = old
            grad[idx] = (plus - minus) / (2 * h)
        return grad

    if isinstance(params, np.ndarray):
        _float_array("params", params)
        return grad_array(params, lambda: call(params))
    if isinstance(params, Mapping):
        grads = {}
        for key, value in params.items():
            if isinstance(value, np.ndarray):
                _float_array(f"params[{key!r}]", value)
                grads[key] = grad_array(value, lambda: call(params))
            elif isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
                shifted = dict(params)
                shifted[key] = float(value) + h
                plus = call(shifted)
                shifted[key] = float(value) - h
                minus = call(shifted)
                grads[key] = (plus - minus) / (2 * h)
            else:
                raise TypeError(f"params[{key!r}] must be a number or a float array, got {type(value).__name__}")
        return grads
    raise TypeError(f"params must be a float ndarray or a dict of them, got {type(params).__name__}")


def relative_error(a, b) -> np.ndarray:
    """Element-wise ``|a − b| / max(|a|, |b|, 1e-8)`` (shapes must match)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-8)


def _flatten(name: str, grads) -> dict:
    if isinstance(grads, Mapping):
        out = {}
        for key, value in grads.items():
            arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=float)
            if arr.ndim == 0:
                out[str(key)] = float(arr)
            else:
                for idx in np.ndindex(arr.shape):
                    out[f"{key}[{','.join(map(str, idx))}]"] = float(arr[idx])
        return out
    arr = np.asarray(grads.detach().cpu().numpy() if hasattr(grads, "detach") else grads, dtype=float)
    if arr.ndim == 0:
        return {"θ": float(arr)}
    return {f"θ[{','.join(map(str, idx))}]": float(arr[idx]) for idx in np.ndindex(arr.shape)}


def gradient_check(analytic, numerical, *, tolerance: float = OK_THRESHOLD, names=("analytic", "numerical")):
    """Compare two gradients entry by entry and return a ``pandas.DataFrame`` report.

    ``analytic`` and ``numerical`` are both arrays of the same shape, or both dicts with the
    same keys and shapes (arrays, tensors or numbers). Each scalar parameter becomes a row:
    ``parameter``, the two values (columns named by ``names``), ``rel_error``
    (|a − n| / max(|a|, |n|, 1e-8)) and ``verdict``: ``"ok"`` when ``rel_error ≤ tolerance``,
    ``"check"`` when ≤ ``WARN_THRESHOLD`` (1e-4), else ``"wrong"``.

    ``report.attrs["max_rel_error"]`` holds the largest relative error.
    """
    import pandas as pd

    if not (isinstance(tolerance, (float, int)) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number, got {tolerance!r}")
    if len(names) != 2:
        raise ValueError(f"names must be two column names, got {names!r}")
    a = _flatten("analytic", analytic)
    n = _flatten("numerical", numerical)
    if a.keys() != n.keys():
        missing = sorted(set(a) ^ set(n))[:5]
        raise ValueError(f"analytic and numerical gradients do not cover the same parameters; differ at {missing}")
    keys = list(a)
    av = np.array([a[k] for k in keys])
    nv = np.array([n[k] for k in keys])
    rel = relative_error(av, nv)
    verdict = np.where(rel <= tolerance, "ok", np.where(rel <= max(WARN_THRESHOLD, tolerance), "check", "wrong"))
    report = pd.DataFrame({"parameter": keys, names[0]: av, names[1]: nv, "rel_error": rel, "verdict": verdict})
    report.attrs["max_rel_error"] = float(rel.max()) if len(rel) else 0.0
    return report
