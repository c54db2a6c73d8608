"""Fashion-MNIST benchmark: the seed's DataLoader recipe vs the course's fastest training path.

Trains the 784-512-10 ReLU MLP of chapter 11 on full-size Fashion-MNIST (60,000 × 28 × 28
training images, 10,000 test images; the same shape as MNIST) and prints, in one run:

- seconds per epoch of the **seed recipe**: ``Dataset`` that turns one image at a time into a
  PIL image → ``ToTensor`` → ``Normalize(0.5, 0.5)``, ``DataLoader(batch_size=64, shuffle=True)``,
  SGD lr 0.01;
- seconds per epoch of the **in-memory paths** taught in chapter 11: all images converted once
  into one ``float32 (60000, 784)`` tensor, batches cut by shuffled indices — at batch 64 with
  the seed's SGD lr 0.01 (the like-for-like comparison: same arithmetic), and at a larger batch
  with fused Adam, in fp32 and with bfloat16 matmuls (``torch.autocast``; fp32 master weights)
  when the CPU has native bf16;
- the ratio seed / fastest path (each in-memory path timed over ``--timing-epochs`` epochs,
  fastest kept; the seed recipe over one epoch);
- the machine's measured matmul GFLOP/s (fp32 and bf16), the FLOPs of one training epoch and
  the fraction of the measured peak each path reaches;
- the test accuracy of the fastest path after a fixed number of epochs (default 10).

Run (2-core CPU, about two minutes when the machine is quiet)::

    .venv/bin/python benchmarks/mlp_fashion_mnist.py            # or: make benchmark
    .venv/bin/python benchmarks/mlp_fashion_mnist.py --epochs 10 --threads 2 --seed-accuracy

Data come from ``course_utils.data.load_fashion_mnist`` (Debian's ``dataset-fashion-mnist``
files or torchvision's download, checksum-verified). The script is not part of the test
suite; ``tests/test_benchmark_fashion.py`` checks its functions on tiny random data.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works from a checkout without installing
from course_utils.checks import check_int, check_shape, int_list, positive_int  # noqa: E402
from course_utils.data import ImageDataset  # noqa: E402
from course_utils.fmt import format_number, format_table  # noqa: E402

__all__ = [
    "seed_recipe_loader", "make_mlp", "to_inputs", "train_epoch_loader",
    "train_epoch_tensors", "make_adam", "evaluate", "matmul_gflops", "epoch_flops", "bf16_supported", "main",
]

SIZES = (784, 512, 10)


# ----------------------------------------------------------------------------- data paths

def _check_images(images, name: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 of shape (n, 28, 28), got dtype {images.dtype}")
    check_shape(name, images, ("n", 28, 28))
    return images


def seed_recipe_loader(images, labels, batch_size: int = 64, seed: int = 0):
    """``DataLoader`` of the seed: ToTensor + Normalize((0.5,), (0.5,)), shuffled, ``num_workers=0``.

    The dataset is :class:`course_utils.data.ImageDataset` (one image → PIL → transform per
    item, what ``torchvision.datasets.FashionMNIST`` does). ``images``: uint8 ``(n, 28, 28)``,
    ``labels``: ints ``(n,)``. Yields ``(float32 (B, 1, 28, 28), int64 (B,))``.
    """
    from torchvision import transforms

    batch_size = positive_int("batch_size", batch_size)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    ds = ImageDataset(_check_images(images), labels, tf)
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g, num_workers=0)


def to_inputs(images) -> torch.Tensor:
    """uint8 ``(n, 28, 28)`` → float32 ``(n, 784)`` in [-1, 1], the same arithmetic as
    ToTensor + Normalize(0.5, 0.5) (bit-for-bit)."""
    images = _check_images(images)
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).to(torch.float32).div(255)  # copy: idx files are read-only
    return x.sub(0.5).div(0.5).reshape(len(x), -1)


# ----------------------------------------------------------------------------- model, loops

def make_mlp(sizes: Sequence[int] = SIZES) -> nn.Sequential:
    """Flatten → Linear → ReLU → … → Linear for layer sizes such as ``(784, 512, 10)``."""
    sizes = int_list("sizes", sizes, min_len=2, example="(784, 512, 10)")
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(int(a), int(b)))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def train_epoch_loader(model: nn.Module, optimizer, loader) -> float:
    """One epoch over a ``DataLoader``; returns the sample-mean training loss."""
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    total, n = 0.0, 0
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
        n += len(yb)
    return total / max(n, 1)


def train_epoch_tensors(model: nn.Module, optimizer, X: torch.Tensor, y: torch.Tensor, *,
                        batch_size: int = 64, generator: Optional[torch.Generator] = None,
                        bf16: bool = False, scheduler=None) -> float:
    """One epoch of the in-memory path. ``X``: float32 ``(n, 784)``, ``y``: int64 ``(n,)``.

    Batches are cut from ``torch.randperm(n, generator=generator)``. With ``bf16=True`` the
    forward/backward matmuls run in bfloat16 under ``torch.autocast`` (weights stay fp32).
    ``scheduler`` (optional) is stepped after every batch. Returns the sample-mean loss.
    """
    check_shape("X", X, ("n", None), note=" (examples, features)")
    check_shape("y", y, (len(X),))
    batch_size = positive_int("batch_size", batch_size)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    perm = torch.randperm(len(X), generator=generator)
    total = 0.0
    for start in range(0, len(X), batch_size):
        idx = perm[start:start + batch_size]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(idx)
    return total / max(len(X), 1)


def make_adam(params, lr: float):
    """Adam with the fused CPU kernel (one pass over all parameters per step) when this torch
    has it, else the multi-tensor ``foreach`` version. Same update rule as plain Adam."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - older torch
        return torch.optim.Adam(params, lr=lr, foreach=True)


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 10000) -> float:
    """Accuracy of ``model`` on ``X (n, 784)``, ``y (n,)`` (fp32, no grad)."""
    check_shape("X", X, ("n", None), note=" (examples, features)")
    check_shape("y", y, (len(X),))
    batch_size = positive_int("batch_size", batch_size)
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            correct += (model(X[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum().item()
    return correct / max(len(X), 1)


# ----------------------------------------------------------------------------- measuring

def bf16_supported() -> bool:
    """True when the CPU has native bfloat16 dot products (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def matmul_gflops(n: int = 2048, dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """Measured GFLOP/s of an ``(n, n) @ (n, n)`` matmul (2·n³ FLOPs), best of ``repeats``."""
    n = check_int("n", n, minimum=8)
    repeats = positive_int("repeats", repeats)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    a @ b  # warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def epoch_flops(n_samples: int, sizes: Sequence[int] = SIZES) -> int:
    """Matmul FLOPs of one training epoch of an MLP with layer ``sizes``.

    Per sample and layer (in → out): forward 2·in·out, weight gradient 2·in·out, and the
    gradient with respect to the layer's input 2·in·out for every layer except the first
    (nothing needs the gradient of the images). Biases, activations and the optimizer are
    O(parameters) and left out. For 784-512-10 and 60,000 samples: ≈ 9.8e10 FLOPs.
    """
    n_samples = check_int("n_samples", n_samples, minimum=0)
    sizes = int_list("sizes", sizes, min_len=2, example="(784, 512, 10)")
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    per_sample = 4 * sum(macs) + 2 * sum(macs[1:])
    return int(n_samples) * per_sample


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10, help="epochs of the fast path for the accuracy (default 10)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size of the large-batch paths (default 256)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak Adam learning rate of the fast path (default 3e-3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--no-bf16", action="store_true", help="do not use bfloat16 even if the CPU supports it")
    p.add_argument("--seed-accuracy", action="store_true",
                   help="also train the seed recipe (SGD lr 0.01, batch 64) for --epochs on the in-memory path")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (smoke runs)")
    p.add_argument("--timing-epochs", type=int, default=2,
                   help="time each in-memory path over this many epochs and keep the fastest (default 2)")
    p.add_argument("--matmul-n", type=int, default=2048, help="matrix size of the GFLOP/s measurement (default 2048)")
    args = p.parse_args(argv)

    from course_utils import data

    if args.threads:
        torch.set_num_threads(args.threads)
    fm = data.load_fashion_mnist()
    Xtr_u8, ytr_np = fm.X_train, fm.y_train
    if args.limit:
        Xtr_u8, ytr_np = Xtr_u8[:args.limit], ytr_np[:args.limit]
    n = len(Xtr_u8)
    use_bf16 = bf16_supported() and not args.no_bf16
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, bf16 native: {bf16_supported()}")
    print(f"data: {fm.source}, train {n:,} × 28 × 28, test {len(fm.X_test):,}")

    peak32 = matmul_gflops(args.matmul_n, torch.float32)
    peak16 = matmul_gflops(args.matmul_n, torch.bfloat16) if use_bf16 else float("nan")
    flops = epoch_flops(n)
    print(f"one epoch of 784-512-10 on {n:,} images = {flops / 1e9:.1f} GFLOP (matmuls)")

    ytr = torch.from_numpy(ytr_np.astype(np.int64))
    Xte, yte = to_inputs(fm.X_test), torch.from_numpy(fm.y_test.astype(np.int64))

    rows = []
    # 1. the seed recipe
    torch.manual_seed(0)
    m = make_mlp()
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    loader = seed_recipe_loader(Xtr_u8, ytr_np, batch_size=64, seed=0)
    t_seed = _timed(lambda: train_epoch_loader(m, opt, loader))
    t_fetch = _timed(lambda: [None for _ in seed_recipe_loader(Xtr_u8, ytr_np, batch_size=64, seed=1)])
    rows.append(("seed: DataLoader per image, batch 64, fp32", t_seed, peak32))

    # 2. in-memory paths
    Xtr = None

    def prep():
        nonlocal Xtr
        Xtr = to_inputs(Xtr_u8)
    t_prep = _timed(prep)
    # batch 64 + SGD lr 0.01 is the seed's arithmetic exactly; the large-batch paths use Adam
    paths = [("in-memory tensors, batch 64, fp32", 64, False, peak32, "sgd"),
             (f"in-memory tensors, batch {args.batch_size}, fp32", args.batch_size, False, peak32, "adam")]
    if use_bf16:
        paths.append((f"in-memory tensors, batch {args.batch_size}, bf16 autocast", args.batch_size, True, peak16,
                      "adam"))
    for name, bs, bf16, peak, opt_name in paths:
        torch.manual_seed(0)
        m = make_mlp()
        opt = (torch.optim.SGD(m.parameters(), lr=0.01) if opt_name == "sgd"
               else make_adam(m.parameters(), args.lr))
        g = torch.Generator().manual_seed(0)
        t = min(_timed(lambda: train_epoch_tensors(m, opt, Xtr, ytr, batch_size=bs, generator=g, bf16=bf16))
                for _ in range(max(1, args.timing_epochs)))
        rows.append((name, t, peak))

    # the machine is shared: measure the peak again and keep the better of the two measurements
    peak32 = max(peak32, matmul_gflops(args.matmul_n, torch.float32))
    if use_bf16:
        peak16 = max(peak16, matmul_gflops(args.matmul_n, torch.bfloat16))
    rows = [(name, t, peak32 if "bf16" not in name else peak16) for name, t, _ in rows]
    print(f"matmul peak (best of two measurements): fp32 {peak32:.1f} GFLOP/s"
          + (f", bf16 {peak16:.1f} GFLOP/s" if use_bf16 else "") + "\n")

    fastest = min(rows[1:], key=lambda r: r[1])
    table = [(name, format_number(t, 2), format_number(t_seed / t, 1) + "x", format_number(flops / t / 1e9, 1),
              format_number(100 * flops / t / 1e9 / peak, 0) + "%") for name, t, peak in rows]
    print(format_table(table, ["path (784-512-10, one epoch)", "s/epoch", "speed-up", "GFLOP/s", "of peak"]))
    print(f"\nseed recipe: {t_fetch:.2f} s of its {t_seed:.2f} s/epoch is the per-image data pipeline alone;"
          f" the in-memory conversion of all {n:,} images takes {t_prep:.2f} s once.")
    print(f"fastest path: {fastest[0]} — {t_seed / fastest[1]:.1f}x faster per epoch than the seed recipe")

    # 3. accuracy of the fastest path after a fixed number of epochs
    bs = args.batch_size if "batch 64," not in fastest[0] else 64
    bf16 = "bf16" in fastest[0]
    torch.manual_seed(0)
    m = make_mlp()
    opt = make_adam(m.parameters(), args.lr)
    steps = args.epochs * math.ceil(n / bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(0)
    print(f"\ntraining the fastest path for {args.epochs} epochs (fused Adam, one-cycle lr ≤ {args.lr:g}, batch {bs}):")
    t0 = time.perf_counter()
    acc = float("nan")
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch_tensors(m, opt, Xtr, ytr, batch_size=bs, generator=g, bf16=bf16, scheduler=sched)
        acc = evaluate(m, Xte, yte)
        print(f"  epoch {epoch:2d}: train loss {loss:.4f}  test accuracy {acc:.4f}")
    t_total = time.perf_counter() - t0
    print(f"fast path: {args.epochs} epochs in {t_total:.1f} s ({t_total / args.epochs:.2f} s/epoch incl. evaluation);"
          f" test accuracy {acc:.4f}")

    if args.seed_accuracy:
        torch.manual_seed(0)
        m = make_mlp()
        opt = torch.optim.SGD(m.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(0)
        for _ in range(args.epochs):
            train_epoch_tensors(m, opt, Xtr, ytr, batch_size=64, generator=g)
        print(f"seed recipe's optimizer (SGD lr 0.01, batch 64), {args.epochs} epochs: test accuracy "
              f"{evaluate(m, Xte, yte):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
