"""PyTorch autograd graphs drawn with graphviz (a wrapper around ``torchviz.make_dot``).

``torchviz.make_dot`` draws the backward graph that autograd records: grey boxes are the
backward functions (``MulBackward0`` …), blue boxes the leaf tensors whose ``.grad`` a
``backward()`` call fills, green the output. It shows only names and shapes, and it names the
nodes by ``id()`` — memory addresses that change on every run. :func:`autograd_graph` keeps
torchviz's drawing and adds what a lesson needs:

- the **values** of the leaves and of the output, and the leaves' **.grad** (or that it is
  still ``None``), written into their boxes;
- **stable node ids** (``n0``, ``n1``, … in torchviz's drawing order), so the same expression
  gives the same DOT text on every run;
- the course's Korean-capable font and the ``dot`` check of :func:`course_utils.graphs.new_graph`.

The backward pass itself is computed by PyTorch in the notebook; this module only draws.
"""
from __future__ import annotations

import re
import warnings
from typing import Mapping, Optional

import numpy as np

from .checks import check_int, positive_int
from .fmt import format_number
from .graphs import new_graph

__all__ = ["autograd_graph"]

_NODE_LINE = re.compile(r"^\t(\d+) \[(.*)\]\s*$", re.S)
_EDGE_LINE = re.compile(r"^\t(\d+) -> (\d+)(.*)$", re.S)
_FILL = re.compile(r"fillcolor=([\w#\"]+)")


def _format_tensor(tensor, precision: int = 3, max_entries: int = 12) -> str:
    """Short text for a tensor's numbers, for a diagram label.

    A scalar (shape ``()`` or one element) gives ``"2.000"``; a vector or matrix with at most
    ``max_entries`` entries gives one bracketed line per row (``"[0.100, -0.200]"``; a column
    of shape ``(n, 1)`` gives one line marked as transposed, ``"[0.100, -0.200]ᵀ"``); a larger
    tensor gives its shape, mean and the range of its entries. ``None`` gives ``"None"``.
    """
    if tensor is None:
        return "None"
    precision = check_int("precision", precision, minimum=0)
    max_entries = positive_int("max_entries", max_entries)
    if hasattr(tensor, "detach"):
        array = tensor.detach().cpu().double().numpy()
    else:
        try:
            array = np.asarray(tensor, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"tensor must be a torch.Tensor or numeric array, got {type(tensor).__name__}") from None

    def num(v: float) -> str:
        return format_number(float(v), precision)

    if array.size == 1:
        return num(array.reshape(-1)[0])
    if array.size > max_entries:
        return (f"{tuple(array.shape)}: mean {num(array.mean())}, "
                f"[{num(array.min())}, {num(array.max())}]")
    if array.ndim == 2 and array.shape[1] == 1:  # a column such as a bias (n, 1): one line, transposed
        return "[" + ", ".join(num(v) for v in array.reshape(-1)) + "]ᵀ"
    rows = array.reshape(-1, array.shape[-1]) if array.ndim >= 2 else array.reshape(1, -1)
    return "\n".join("[" + ", ".join(num(v) for v in row) + "]" for row in rows)


def _reachable_tensors(output) -> dict:
    """``{id(tensor): tensor}`` for the output and every leaf its backward graph reaches."""
    found = {id(output): output}
    seen = set()
    stack = [output.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)
        if variable is not None:
            found[id(variable)] = variable
        stack.extend(u[0] for u in getattr(fn, "next_functions", ()))
    return found


def autograd_graph(
    output,
    params: Optional[Mapping[str, object]] = None,
    *,
    output_name: str = "output",
    show_values: bool = True,
    show_grads: bool = True,
    precision: int = 3,
    max_entries: int = 12,
    title: Optional[str] = None,
) -> "graphviz.Digraph":
    """Draw the autograd graph that produced ``output`` (via ``torchviz.make_dot``).

    - ``output``: a ``torch.Tensor`` with a ``grad_fn`` (computed from a tensor with
      ``requires_grad=True``), of any shape — usually the scalar loss.
    - ``params``: optional ``{name: leaf tensor}``, e.g. ``dict(model.named_parameters())``
      or ``{"w": w}``; named leaves are labelled with their name.
    - ``output_name``: label of the output box.
    - ``show_values`` / ``show_grads``: write each leaf's value and its ``.grad`` (``None``
      before ``backward()``) into its box; the output box gets its value. Tensors with more
      than ``max_entries`` entries are summarised (shape, mean, range), see
      :func:`_format_tensor`.
    - ``title``: optional caption over the drawing.

    Node ids are ``n0``, ``n1``, … in drawing order, so identical computations give identical
    DOT text (``.source``). Raises ``TypeError``/``ValueError`` naming the bad argument and
    :class:`course_utils.graphs.DotNotFoundError` when graphviz's ``dot`` is missing.
    """
    import torch

    if not isinstance(output, torch.Tensor):
        raise TypeError(f"output must be a torch.Tensor, got {type(output).__name__}")
    if output.grad_fn is None:
        raise ValueError("output has no grad_fn: it was not computed from a tensor with requires_grad=True "
                         "(or it was computed under torch.no_grad() / is a leaf), so there is no graph to draw")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict {{name: tensor}}, got {type(params).__name__}")
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"params keys must be str names, got {type(key).__name__} {key!r}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"params[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
    if not isinstance(output_name, str):
        raise TypeError(f"output_name must be a str, got {type(output_name).__name__}")
    _format_tensor(0.0, precision, max_entries)  # validates precision and max_entries

    g = new_graph("TB", nodesep="0.3", ranksep="0.35")  # checks for `dot` first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchviz imports distutils' LooseVersion
        from torchviz import make_dot

        dot = make_dot(output, params=dict(params))

    names = {id(v): k for k, v in params.items()}
    tensors = _reachable_tensors(output)
    stable: dict[str, str] = {}

    def sid(raw: str) -> str:
        if raw not in stable:
            stable[raw] = f"n{len(stable)}"
        return stable[raw]

    def entry(caption: str, t) -> str:
        text = _format_tensor(t, precision, max_entries)
        return f"{caption} =\n{text}" if "\n" in text else f"{caption} = {text}"

    def tensor_label(t) -> str:
        shape = "(" + ", ".join(str(s) for s in t.shape) + ")"
        if t is output:
            lines = [f"{output_name}  {shape}"]
            if show_values:
                lines.append(entry("값", t))
            return "\n".join(lines)
        lines = [f"{names.get(id(t), 'leaf')}  {shape}"]
        if show_values:
            lines.append(entry("값", t))
        if show_grads:
            lines.append(entry("grad", t.grad))
        return "\n".join(lines)

    g.attr("node", style="filled", shape="box", fontsize="11", height="0.2", margin="0.12,0.06")
    for line in dot.body:
        edge = _EDGE_LINE.match(line)
        if edge:
            g.body.append(f"\t{sid(edge.group(1))} -> {sid(edge.group(2))}{edge.group(3)}")
            if not g.body[-1].endswith("\n"):
                g.body[-1] += "\n"
            continue
        node = _NODE_LINE.match(line)
        if node:
            raw, attrs = node.group(1), node.group(2)
            tensor = tensors.get(int(raw))
            if tensor is not None:
                fill = _FILL.search(attrs)
                color = fill.group(1).strip('"') if fill else "lightblue"
                g.node(sid(raw), tensor_label(tensor), fillcolor=color)
            else:
                g.body.append(f"\t{sid(raw)} [{attrs}]\n")
            continue
        g.body.append(line)  # anything else torchviz writes is kept as it is
    if title:
        g.attr("graph", label=title, labelloc="t", fontsize="14")
    return g
