"""matplotlib helpers: decision regions and training curves.

Each function returns the ``matplotlib.figure.Figure`` it drew on, so a notebook shows it
and a test can inspect it. Titles and axis labels are always set.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

__all__ = ["decision_regions", "predict_grid", "loss_curves"]


def _to_numpy(out) -> np.ndarray:
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    return np.asarray(out)


def predict_grid(predict, points: np.ndarray) -> np.ndarray:
    """Apply ``predict`` to ``points`` of shape ``(n, 2)`` and return shape ``(n,)``.

    ``predict`` is a NumPy function or a ``torch.nn.Module``/callable on tensors. A module is
    run under ``torch.no_grad()`` in its parameters' dtype. Outputs of shape ``(n, k)`` with
    ``k > 1`` become the arg-max class; ``(n, 1)`` is squeezed.
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
    if out.ndim == 2 and out.shape[1] > 1:
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

    X = _to_numpy(X).astype(float)
    if X.ndim != 2 or X.shape[1] != 2:
        hint = " (examples as columns? pass X.T)" if X.ndim == 2 and X.shape[0] == 2 else ""
        raise ValueError(f"X must have shape (n, 2), got {X.shape}{hint}")
    if y is not None:
        y = _to_numpy(y).reshape(-1)
        if y.shape != (len(X),):
            raise ValueError(f"y must hold one label per row of X ({len(X)}), got {y.shape}")
    if not callable(predict):
        raise TypeError(f"predict must be callable, got {type(predict).__name__}")
    if not isinstance(resolution, (int, np.integer)) or resolution < 10:
        raise ValueError(f"resolution must be an int ≥ 10, got {resolution!r}")
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
