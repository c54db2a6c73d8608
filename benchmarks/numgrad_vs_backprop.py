#!/usr/bin/env python3
"""Why backprop: the cost of one numerical gradient vs one autograd forward+backward.

The networks are 2-n-n-1 MLPs (two ReLU hidden layers of width n, one sigmoid output,
mean binary cross-entropy) on chapter 03's data set: 100 points drawn with seed 317 in
[-2, 2)², label x2 + 1 > x1². Their parameter count is

    P = (2n + n) + (n*n + n) + (n + 1) = n² + 5n + 1,

so the default widths 2 … 97 give P ≈ 15 … 9,895. For each network the script times

- one numerical gradient by central differences: ``2P`` loss evaluations
  (``course_utils.gradcheck.numerical_gradient`` over the flat parameter vector), and
- one autograd gradient: one forward pass plus one ``backward()``,

reports the median of ``--repeats`` runs as a table (P, seconds for each, ratio) and fits the
slope of log(seconds) against log(P) for each method. A slope near 1 means the cost grows in
proportion to P; near 0 means it hardly grows with P at all.

    python benchmarks/numgrad_vs_backprop.py                  # default widths, ~1 minute
    python benchmarks/numgrad_vs_backprop.py --widths 2 10 40 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works from a checkout without installing
from course_utils import gradcheck  # noqa: E402
from course_utils.checks import check_shape, positive_int  # noqa: E402
from course_utils.fmt import format_number, format_table as _format_table  # noqa: E402

DEFAULT_WIDTHS = (2, 5, 10, 20, 40, 70, 97)
COLUMNS = ("P", "numgrad_s", "backprop_s", "ratio")


def param_count(width: int) -> int:
    """Number of scalar parameters of the 2-width-width-1 MLP: ``width**2 + 5*width + 1``."""
    width = positive_int("width", width)
    return width * width + 5 * width + 1


def dataset(m: int = 100, seed: int = 317):
    """Chapter 03's points: ``X`` float64 tensor ``(m, 2)`` uniform in [-2, 2)², ``y`` ``(m,)``
    with ``y = 1`` where ``x2 + 1 > x1²``. Uses its own RandomState (global RNGs untouched)."""
    m = positive_int("m", m)
    pts = np.random.RandomState(seed).rand(m, 2) * 4 - 2
    labels = (pts[:, 1] + 1 > pts[:, 0] ** 2).astype(np.float64)
    return torch.from_numpy(pts), torch.from_numpy(labels)


def init_params(width: int, seed: int = 0) -> np.ndarray:
    """Initial parameters of the 2-width-width-1 MLP as one float64 vector of shape ``(P,)``."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.5, size=param_count(width))


def mlp_loss(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, width: int) -> torch.Tensor:
    """Mean binary cross-entropy of the 2-width-width-1 ReLU/sigmoid MLP.

    ``theta`` (shape ``(P,)``) is read in order as W1 ``(width, 2)``, b1 ``(width,)``,
    W2 ``(width, width)``, b2 ``(width,)``, W3 ``(1, width)``, b3 ``(1,)``.
    ``X`` has shape ``(m, 2)`` (examples as rows), ``y`` shape ``(m,)``.
    """
    P = param_count(width)
    check_shape("theta", theta, (P,), note=f" for width={width}")
    check_shape("X", X, ("m", 2))
    a, k = X, 0
    for layer, (n_in, n_out) in enumerate(((2, width), (width, width), (width, 1))):
        W = theta[k:k + n_out * n_in].view(n_out, n_in)
        k += n_out * n_in
        b = theta[k:k + n_out]
        k += n_out
        z = a @ W.T + b
        a = torch.relu(z) if layer < 2 else z
    return torch.nn.functional.binary_cross_entropy_with_logits(a.squeeze(1), y)


def numerical_grad(theta: np.ndarray, X, y, width: int, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of :func:`mlp_loss`, shape ``(P,)``: ``2P`` loss evaluations.

    ``theta`` (float64, shape ``(P,)``) is changed in place one entry at a time and restored;
    the tensor made by ``torch.from_numpy`` shares its memory, so it sees every change.
    """
    view = torch.from_numpy(theta)

    def f(_):
        with torch.no_grad():
            return mlp_loss(view, X, y, width).item()

    return gradcheck.numerical_gradient(f, theta, h=h)


def autograd_grad(theta: np.ndarray, X, y, width: int) -> np.ndarray:
    """Gradient of :func:`mlp_loss` by one forward pass and one ``backward()``; shape ``(P,)``."""
    t = torch.tensor(theta, requires_grad=True)
    mlp_loss(t, X, y, width).backward()
    return t.grad.numpy()


def median_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn()``, after one untimed warm-up call."""
    repeats = positive_int("repeats", repeats)
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def loglog_slope(P: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) against log(P); both 1-D, equal length ≥ 2, positive."""
    P = np.asarray(P, dtype=float)
    seconds = np.asarray(seconds, dtype=float)
    if P.ndim != 1 or P.shape != seconds.shape or len(P) < 2:
        raise ValueError(f"P and seconds must be 1-D of equal length ≥ 2, got shapes {P.shape} and {seconds.shape}")
    if (P <= 0).any() or (seconds <= 0).any():
        raise ValueError("P and seconds must be positive to take logarithms")
    return float(np.polyfit(np.log(P), np.log(seconds), 1)[0])


def run(widths: Sequence[int] = DEFAULT_WIDTHS, *, repeats: int = 5, seed: int = 0) -> list[dict]:
    """Time both gradients for each width. Returns one dict per width with the keys ``COLUMNS``.

    The numerical gradient is timed ``repeats`` times, autograd ``max(repeats, 20)`` times
    (it is fast, so more runs steady its median).
    """
    X, y = dataset()
    rows = []
    for width in widths:
        theta = init_params(width, seed)
        t_num = median_seconds(lambda: numerical_grad(theta, X, y, width), repeats)
        t_bp = median_seconds(lambda: autograd_grad(theta, X, y, width), max(repeats, 20))
        rows.append({"P": param_count(width), "numgrad_s": t_num, "backprop_s": t_bp, "ratio": t_num / t_bp})
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`run` as a text table (``course_utils.fmt.format_table``) under a
    header of ``COLUMNS``: seconds to 3 significant digits, the ratio to a whole number."""
    cells = [(r["P"], format_number(r["numgrad_s"], digits=3), format_number(r["backprop_s"], digits=3),
              format_number(r["ratio"], 0)) for r in rows]
    return _format_table(cells, COLUMNS, align="rrrr")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time one numerical gradient (2P loss evaluations) against one autograd "
                    "forward+backward for 2-n-n-1 MLPs on chapter 03's data, and fit log-log slopes.")
    parser.add_argument("--widths", type=int, nargs="+", default=list(DEFAULT_WIDTHS),
                        help="hidden widths n (P = n² + 5n + 1); default %(default)s gives P ≈ 15 … 9,895")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs of the numerical gradient per size; the median is reported "
                             "(autograd: max(repeats, 20)); default %(default)s")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; 1 gives steadier timings (default %(default)s)")
    args = parser.parse_args(argv)
    if len(args.widths) < 2:
        parser.error("--widths needs at least two sizes to fit a slope")
    if args.repeats < 1 or args.threads < 1 or min(args.widths) < 1:
        parser.error("--widths, --repeats and --threads must be positive")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _report(args)
    finally:
        torch.set_num_threads(threads_before)


def _report(args) -> int:
    print(f"torch {torch.__version__}, {args.threads} thread(s), 100 examples, "
          f"median of {args.repeats} runs (autograd: {max(args.repeats, 20)})")
    rows = run(args.widths, repeats=args.repeats)
    print(format_table(rows))
    P = [r["P"] for r in rows]
    s_num = loglog_slope(P, [r["numgrad_s"] for r in rows])
    s_bp = loglog_slope(P, [r["backprop_s"] for r in rows])
    print(f"log-log slope: numerical {s_num:.2f}, backprop {s_bp:.2f}")
    print(f"at P={P[-1]}: one numerical gradient takes {rows[-1]['ratio']:.0f}x one forward+backward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
