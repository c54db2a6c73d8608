"""matplotlib helpers: decision regions and training curves.

Each function returns the ``matplotlib.figure.Figure`` it drew on, so a notebook shows it
and a test can inspect it. Titles and axis labels are always set.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .checks import as_array, check_int, check_shape, positive_int

__all__ = ["decision_regions", "predict_grid", "loss_curves", "function_grid"]


def _to_numpy(out) -> np.ndarray:
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    return np.asarray(out)


def predict_grid(predict, points: np.ndarray) -> np.ndarray:
    """Apply ``predict`` to ``points`` of shape ``(n, 2)`` and return shape ``(n,)``.

    ``predict`` is a NumPy function or a ``torch.nn.Module``/callable on tensors. A module is
    run under ``torch.no_grad()`` in its parameters' dtype. Outputs of shape ``(n, k)`` with
    ``k > 1`` become the arg-max class; ``(n, 1)`` and ``(1, n)`` (examples as columns) are
    squeezed.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(predict, torch.nn.Module):
        params = list(predict.parameters())
        dtype = params[0].dtype if params else torch.float32
        with torch.no_grad():
            out = predict(torch.as_tensor(points, dtype=dtype))
    else:
        out = predict(points)
    out = _to_numpy(out)
    if out.ndim == 2 and out.shape == (1, len(points)):
        out = out[0]  # a row of one value per example (the examples-as-columns convention)
    elif out.ndim == 2 and out.shape[1] > 1:
        out = out.argmax(axis=1)
    out = out.reshape(-1) if out.size == len(points) else out
    if out.shape != (len(points),):
        raise ValueError(f"predict must return one value per point, shape ({len(points)},) or "
                         f"({len(points)}, k); got {out.shape}")
    return out.astype(float)


def decision_regions(
    predict: Callable,
    X,
    y=None,
    *,
    ax=None,
    title: str = "Decision regions",
    xlabel: str = "x1",
    ylabel: str = "x2",
    resolution: int = 300,
    padding: float = 0.5,
    highlight: Optional[int] = None,
):
    """Shade the plane by ``predict`` and scatter the points ``X`` coloured by ``y``.

    - ``predict``: callable on an array of shape ``(n, 2)`` (NumPy function or torch
      module) returning labels, probabilities ``(n,)``/``(n, 1)``, or scores ``(n, k)``.
      Probabilities in [0, 1] are shaded continuously with the 0.5 line drawn; labels are
      shaded by class.
    - ``X``: points of shape ``(n, 2)`` — examples as **rows**. If your examples are
      columns (shape ``(2, n)``), pass ``X.T``.
    - ``y``: optional labels of shape ``(n,)`` or ``(n, 1)``/``(1, n)``.
    - ``highlight``: optional row index of ``X`` to mark with a red ring.

    Returns the figure. Raises ``ValueError`` on wrong shapes.
    """
    import matplotlib.pyplot as plt

    X = as_array("X", X)
    hint = " (examples as columns? pass X.T)" if X.ndim == 2 and X.shape[0] == 2 else ""
    check_shape("X", X, ("n", 2), note=hint)
    if y is not None:
        y = _to_numpy(y).reshape(-1)
        check_shape("y", y, (len(X),), note=" (one label per row of X)")
    if not callable(predict):
        raise TypeError(f"predict must be callable, got {type(predict).__name__}")
    check_int("resolution", resolution, minimum=10)
    x_min, x_max = X[:, 0].min() - padding, X[:, 0].max() + padding
    y_min, y_max = X[:, 1].min() - padding, X[:, 1].max() + padding
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, resolution), np.linspace(y_min, y_max, resolution))
    grid = np.c_[xx.ravel(), yy.ravel()]
    zz = predict_grid(predict, grid).reshape(xx.shape)

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
    else:
        fig = ax.figure
    is_labels = np.all(np.isclose(zz, np.round(zz)))
    if is_labels:
        classes = np.unique(np.round(zz))
        levels = np.append(classes - 0.5, classes[-1] + 0.5)
        ax.contourf(xx, yy, zz, levels=levels, cmap="coolwarm", alpha=0.25)
    else:
        cs = ax.contourf(xx, yy, zz, levels=np.linspace(0, 1, 11), cmap="coolwarm", alpha=0.35)
        ax.contour(xx, yy, zz, levels=[0.5], colors="k", linewidths=1.2)
        fig.colorbar(cs, ax=ax, label="P(y=1)")
    if y is not None:
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=25, vmin=y.min(), vmax=y.max())
    else:
        ax.scatter(X[:, 0], X[:, 1], c="k", s=15)
    if highlight is not None:
        ax.scatter([X[highlight, 0]], [X[highlight, 1]], s=160, facecolors="none", edgecolors="red",
                   linewidths=2, zorder=5)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(x_min, x_max), ylim=(y_min, y_max))
    return fig


def loss_curves(curves: dict, *, ax=None, title: str = "Loss", xlabel: str = "epoch",
                ylabel: str = "loss", logy: bool = False):
    """Plot one or more curves given as ``{label: sequence of floats}`` on one axes.

    Each sequence has shape ``(n_epochs,)`` (lengths may differ). Returns the figure.
    """
    import matplotlib.pyplot as plt

    if not isinstance(curves, dict) or not curves:
        raise TypeError("curves must be a non-empty dict {label: sequence of numbers}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    else:
        fig = ax.figure
    for label, values in curves.items():
        values = _to_numpy(values).astype(float).reshape(-1)
        if values.size == 0:
            raise ValueError(f"curve {label!r} is empty")
        ax.plot(np.arange(len(values)), values, label=str(label))
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    return fig


def _eval_1d(name: str, label: str, f, x: np.ndarray) -> np.ndarray:
    """Call ``f(x)`` for a grid ``x`` of shape ``(n,)`` and check it returns shape ``(n,)``."""
    try:
        out = f(x)
    except Exception as exc:  # noqa: BLE001 - re-raised with the function's name
        raise ValueError(f"functions[{name!r}]: {label} failed on x of shape {x.shape}: "
                         f"{type(exc).__name__}: {exc}") from exc
    out = _to_numpy(out)
    try:
        out = out.astype(float)
    except (TypeError, ValueError):
        raise TypeError(f"functions[{name!r}]: {label} must return numbers, got dtype {out.dtype}") from None
    if out.shape != x.shape:
        raise ValueError(f"functions[{name!r}]: {label} must return shape {x.shape} (one value per x, "
                         f"applied elementwise), got {out.shape}")
    return out


def function_grid(functions, x=None, *, derivatives: bool = True, ncols: int = 3,
                  title: Optional[str] = None):
    """Plot each function in its own subplot, with its derivative, and return the figure.

    - ``functions``: a non-empty dict ``{name: f}`` or ``{name: (f, df)}``. ``f`` (and ``df``)
      take a NumPy array of shape ``(n,)`` and return shape ``(n,)``, elementwise (NumPy
      functions, or anything returning a tensor). ``df`` is the analytic derivative; it may
      be ``None``. Where no ``df`` is given, the derivative is estimated by central
      differences ``(f(x + h) - f(x - h)) / (2h)`` with ``h = 1e-5`` and labelled as such.
      (At a jump, such as the step function's at 0, that estimate is a spike of about
      ``1/(2h)``: give ``df`` for such functions.)
    - ``x``: the grid, array-like of shape ``(n,)`` with ``n ≥ 2`` finite values, in
      increasing order; default ``np.linspace(-5, 5, 401)``.
    - ``derivatives``: ``False`` draws the functions only.
    - ``ncols``: subplots per row (≥ 1); rows follow from ``len(functions)``.
    - ``title``: optional title over the whole grid.

    Each subplot is titled with the function's name and has axis labels ``x`` / ``f(x)``
    and a legend; the function is a solid line, its derivative a dashed one. Unused cells
    of the grid are hidden. Returns the ``matplotlib.figure.Figure``.

    Raises ``TypeError`` (wrong kind of argument) or ``ValueError`` (wrong shape or value)
    naming the argument, what was expected and what was given.
    """
    import matplotlib.pyplot as plt

    if not isinstance(functions, dict):
        raise TypeError(f"functions must be a dict {{name: f}} or {{name: (f, df)}}, got {type(functions).__name__}")
    if not functions:
        raise ValueError("functions must hold at least one {name: f} entry, got an empty dict")
    pairs = []
    for name, entry in functions.items():
        if not isinstance(name, str):
            raise TypeError(f"functions keys must be str names, got {name!r} ({type(name).__name__})")
        if isinstance(entry, tuple):
            if len(entry) != 2:
                raise ValueError(f"functions[{name!r}] must be f or a pair (f, df), got a tuple of {len(entry)}")
            f, df = entry
        else:
            f, df = entry, None
        if not callable(f):
            raise TypeError(f"functions[{name!r}]: f must be callable, got {type(f).__name__}")
        if df is not None and not callable(df):
            raise TypeError(f"functions[{name!r}]: df must be callable or None, got {type(df).__name__}")
        pairs.append((name, f, df))
    if x is None:
        x = np.linspace(-5.0, 5.0, 401)
    else:
        try:
            x = np.asarray(_to_numpy(x), dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"x must be a 1-D array of numbers, shape (n,), got {type(x).__name__}") from None
        if x.ndim != 1 or x.size < 2:
            raise ValueError(f"x must have shape (n,) with n >= 2, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x must hold finite numbers only (no nan or inf)")
        if np.any(np.diff(x) <= 0):
            raise ValueError("x must be strictly increasing (a grid such as np.linspace(-5, 5, 401))")
    if not isinstance(derivatives, (bool, np.bool_)):
        raise TypeError(f"derivatives must be True or False, got {derivatives!r}")
    ncols = positive_int("ncols", ncols)

    ncols = int(min(ncols, len(pairs)))
    nrows = -(-len(pairs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    h = 1e-5
    for k, (name, f, df) in enumerate(pairs):
        ax = axes[k // ncols][k % ncols]
        y = _eval_1d(name, "f", f, x)
        ax.plot(x, y, color="C0", lw=2, label="f(x)")
        if derivatives:
            if df is not None:
                dy = _eval_1d(name, "df", df, x)
                label = "f'(x)"
            else:
                dy = (_eval_1d(name, "f", f, x + h) - _eval_1d(name, "f", f, x - h)) / (2 * h)
                label = "f'(x) (central difference)"
            ax.plot(x, dy, color="C3", lw=1.6, ls="--", label=label)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.grid(alpha=0.3)
        ax.set(title=name, xlabel="x", ylabel="f(x)")
        ax.legend(loc="best", fontsize=8)
    for k in range(len(pairs), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
