"""Reproducibility, device choice and notebook set-up.

Every notebook starts with ``notebook_setup(seed)``: it seeds every RNG the course uses,
registers a Korean font for matplotlib, makes graphviz render PNG in Jupyter (stable stored
outputs), and silences warnings that are known to be harmless (so that stored outputs stay
clean and nbgrader does not zero a grade cell for text on stderr).
"""
from __future__ import annotations

import os
import random
import sys
import warnings
from typing import Iterable, Optional

import numpy as np

from .checks import check_int, positive_int

__all__ = ["seed_everything", "get_device", "quiet_warnings", "set_threads", "notebook_setup", "progress"]

# Known-harmless warnings seen when the course's pinned stack runs on a laptop CPU.
_HARMLESS = [
    # CUDA builds of torch probing for a GPU that is not there.
    (UserWarning, r".*CUDA initialization.*"),
    (UserWarning, r".*Can't initialize NVML.*"),
    # torchvision / PIL chatter about image backends.
    (UserWarning, r".*Failed to load image Python extension.*"),
    # jupyter_client date parsing, tqdm's notebook widget fallback.
    (DeprecationWarning, r".*datetime.datetime.utcnow.*"),
    (Warning, r".*IProgress not found.*"),
    # sklearn's fitting messages that do not concern the lesson.
    (FutureWarning, r".*`?multi_class`? was deprecated.*"),
]


def seed_everything(seed: int = 42) -> int:
    """Seed Python's ``random``, NumPy's global RNG and PyTorch (CPU and CUDA).

    Also sets ``PYTHONHASHSEED`` for child processes and asks cuDNN for deterministic
    kernels. Returns ``seed`` so a notebook can print what it used.

    Raises ``TypeError`` when ``seed`` is not an ``int`` and ``ValueError`` when it is
    outside ``0 … 2**32 - 1`` (NumPy's range).
    """
    seed = check_int("seed", seed, minimum=0, maximum=2**32 - 1)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a course requirement
        return seed
    torch.manual_seed(seed)
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return seed


def get_device(prefer: Optional[str] = None):
    """Return the ``torch.device`` to train on.

    ``prefer=None`` picks CUDA, then Apple's MPS, then the CPU. ``prefer`` may name one of
    ``"cpu"``, ``"cuda"``, ``"mps"``; asking for one that is not available raises
    ``ValueError`` saying which devices this machine has. The environment variable
    ``COURSE_DEVICE`` overrides ``prefer=None`` (e.g. ``COURSE_DEVICE=cpu`` on a GPU machine to
    reproduce the stored outputs exactly).
    """
    import torch

    available = ["cpu"]
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        available.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():  # pragma: no cover - macOS only
        available.insert(0 if "cuda" not in available else 1, "mps")
    if prefer is None:
        prefer = os.environ.get("COURSE_DEVICE") or available[0]
    if not isinstance(prefer, str):
        raise TypeError(f"prefer must be a str such as 'cpu', got {type(prefer).__name__}")
    name = prefer.lower()
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"prefer must be 'cpu', 'cuda' or 'mps', got {prefer!r}")
    if name not in available:
        raise ValueError(f"device {name!r} is not available here; this machine has: {', '.join(available)}")
    return torch.device(name)


def quiet_warnings() -> None:
    """Silence the warnings listed in ``_HARMLESS`` (and only those)."""
    for category, pattern in _HARMLESS:
        warnings.filterwarnings("ignore", message=pattern, category=category)


def progress(iterable: Iterable, desc: str = "", total: Optional[int] = None, **kwargs):
    """A tqdm progress bar that is safe for stored outputs and graders.

    It writes to stdout (nbgrader zeroes a grade cell that writes to stderr) and shows no
    rates or times, so its final state is the same on every run and nbval can compare it.
    Extra keyword arguments go to ``tqdm.tqdm``.
    """
    from tqdm import tqdm

    options = dict(
        desc=desc,
        total=total,
        file=sys.stdout,
        ncols=80,
        ascii=True,
        mininterval=0.5,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}",
    )
    options.update(kwargs)
    return tqdm(iterable, **options)


def set_threads(threads: int = 1) -> int:
    """Use ``threads`` CPU threads in PyTorch and in NumPy's BLAS; return the number set.

    The course's tensors are small (at most a few thousand × a few hundred), so splitting
    them over threads costs more than it saves — and a fixed thread count fixes the order in
    which sums are added, so results are the same on a 2-core CI machine and an 8-core laptop.
    Raises ``TypeError`` unless ``threads`` is an int, ``ValueError`` unless it is ≥ 1.
    """
    threads = positive_int("threads", threads)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(int(threads))
    threadpool_limits(int(threads))  # applies process-wide until changed
    return int(threads)


def notebook_setup(seed: int = 42, *, threads: int = 1, korean_font: bool = True, dpi: int = 100) -> dict:
    """Prepare a notebook kernel for the course and return what was set.

    - seeds every RNG with :func:`seed_everything`
    - fixes the CPU thread count for PyTorch and BLAS (:func:`set_threads`, default 1)
    - registers a Korean font for matplotlib (``fonts.use_korean_font``) and sets
      ``axes.unicode_minus=False`` so minus signs render
    - sets figure dpi and makes graphviz render PNG in Jupyter (SVG text would differ
      between graphviz versions; nbval does not compare PNG bytes)
    - silences known-harmless warnings

    Returns ``{"seed": int, "font": str | None, "torch_threads": int}``.
    """
    quiet_warnings()
    seed_everything(seed)
    set_threads(threads)
    import matplotlib

    matplotlib.rcParams["figure.dpi"] = dpi
    matplotlib.rcParams["savefig.dpi"] = dpi
    font = None
    if korean_font:
        from .fonts import use_korean_font

        font = use_korean_font()
    try:
        import graphviz

        graphviz.set_jupyter_format("png")
    except ImportError:  # pragma: no cover - graphviz is a course requirement
        pass
    import torch

    return {"seed": seed, "font": font, "torch_threads": torch.get_num_threads()}
