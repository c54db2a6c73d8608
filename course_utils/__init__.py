"""course_utils — small helpers for the 딥러닝 기초 notebooks.

The lesson (forward passes, backward passes, training loops) lives in the notebooks.
This package only draws, loads, checks and measures. Modules:

- ``repro``     seeds, thread count, device choice, warning filters, :func:`notebook_setup`
- ``fonts``     Korean font registration for matplotlib (and the font name graphviz uses)
- ``graphs``    graphviz diagrams (networks, perceptrons) and the ``dot`` check
- ``plots``     matplotlib helpers (decision regions, function grids, curves)
- ``gradcheck`` numerical gradients and gradient-check reports
- ``compgraph`` scalar computation graphs with forward values and gradients
- ``torchgraph`` PyTorch autograd graphs (torchviz) with leaf values and gradients
- ``data``      offline-first data loaders with a SHA-256 registry
- ``doctor``    the environment check (``python -m course_utils.doctor``)
- ``checks``    argument checks shared by the modules (ints, lists of ints, array shapes)
- ``fmt``       the one number formatter and the one text-table formatter
"""
from __future__ import annotations

__version__ = "0.1.0"

from .repro import get_device, notebook_setup, progress, seed_everything, set_threads  # noqa: F401

__all__ = ["notebook_setup", "seed_everything", "set_threads", "get_device", "progress", "__version__"]
