"""Graphviz diagrams: networks with weights and values, and the ``dot`` check.

Every function returns a :class:`graphviz.Digraph`; Jupyter renders it (as PNG after
``notebook_setup``), and tests can read its DOT text from ``.source``. Nodes get stable ids
(``L{layer}_{unit}``) so a re-run produces the same diagram.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from typing import Optional, Sequence

import numpy as np

from .checks import as_array, int_list
from .fmt import format_number
from .fonts import GRAPHVIZ_FONT

__all__ = ["DotNotFoundError", "DOT_INSTALL_HINT", "check_dot", "new_graph", "network_diagram", "fmt"]

DOT_INSTALL_HINT = (
    "Graphviz's `dot` program is not on PATH. Install it, then restart the kernel:\n"
    "  Debian/Ubuntu: sudo apt-get install graphviz\n"
    "  macOS:         brew install graphviz\n"
    "  conda:         conda install -c conda-forge graphviz\n"
    "  Windows:       winget install graphviz  (then add its bin folder to PATH)"
)

POSITIVE = "#1f5fbf"  # blue for positive weights
NEGATIVE = "#c0392b"  # red for negative weights
LABEL_FRACTION = 0.3  # weight labels sit this fraction of the edge's length back from its head
#: Edge colours per source node when ``network_diagram(..., edge_colors="source")``.
SOURCE_COLORS = ("#1f5fbf", "#d35400", "#1e8449", "#8e44ad", "#7f6000", "#17a2b8")


class DotNotFoundError(RuntimeError):
    """Raised when the graphviz ``dot`` executable cannot be found."""


def check_dot() -> str:
    """Return the version string of the ``dot`` on ``PATH`` (e.g. ``"2.42.2"``).

    Raises :class:`DotNotFoundError` with the install command when it is missing — one
    clear message instead of a traceback from deep inside the graphviz package.
    """
    path = shutil.which("dot")
    if path is None:
        raise DotNotFoundError(DOT_INSTALL_HINT)
    try:
        out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:  # pragma: no cover - broken install
        raise DotNotFoundError(f"`{path} -V` failed ({exc}).\n{DOT_INSTALL_HINT}") from None
    match = re.search(r"version\s+([0-9][0-9.]*)", out.stderr + out.stdout)
    return match.group(1) if match else "unknown"


def new_graph(rankdir: str = "LR", **graph_attr) -> "graphviz.Digraph":
    """An empty ``Digraph`` with the course's look (Korean-capable font, small arrows).

    Checks for ``dot`` first (see :func:`check_dot`). ``rankdir`` is ``"LR"`` (left to
    right) or ``"TB"``/``"BT"``/``"RL"``; extra keyword arguments become graph attributes.
    """
    import graphviz

    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, got {rankdir!r}")
    check_dot()
    g = graphviz.Digraph()
    attrs = {"rankdir": rankdir, "fontname": GRAPHVIZ_FONT, "nodesep": "0.35", "ranksep": "1.1"}
    attrs.update({k: str(v) for k, v in graph_attr.items()})
    g.attr("graph", **attrs)
    g.attr("node", fontname=GRAPHVIZ_FONT, fontsize="12")
    g.attr("edge", fontname=GRAPHVIZ_FONT, fontsize="10", arrowsize="0.5")
    return g


def fmt(value, precision: int = 2) -> str:
    """Format a number for a diagram label: ``fmt(0.6) == "0.60"``, ``fmt(3) == "3"``.

    ``precision`` decimals; ints print without a decimal point, strings pass through
    unchanged, and a value that rounds to zero has no minus sign. The course's one number
    formatter, :func:`course_utils.fmt.format_number`, with ``decimals=precision``.
    """
    return format_number(value, decimals=precision)


def _as_matrix(name: str, array, shape: tuple[int, int]) -> np.ndarray:
    return as_array(name, array, shape, note=" (out, in)")


def _as_vector(name: str, array, size: int) -> np.ndarray:
    if isinstance(array, (list, tuple)) and array and all(isinstance(v, str) for v in array):
        a = np.asarray(array, dtype=object)
    else:
        try:
            a = np.asarray(array, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be numbers or strings, got {type(array).__name__}") from None
    a = a.reshape(-1) if a.size == size else a
    if a.shape != (size,):
        raise ValueError(f"{name} must hold {size} values (shape ({size},) or ({size}, 1)), got shape {a.shape}")
    return a


def _default_names(layer_sizes: Sequence[int]) -> list[list[str]]:
    last = len(layer_sizes) - 1
    names = []
    for layer, size in enumerate(layer_sizes):
        if layer == 0:
            names.append([f"x{i + 1}" for i in range(size)])
        elif layer == last:
            names.append(["y"] if size == 1 else [f"y{i + 1}" for i in range(size)])
        else:
            prefix = "h" if last == 2 else f"h{layer}_"
            names.append([f"{prefix}{i + 1}" for i in range(size)])
    return names


def _default_layer_names(n_layers: int) -> list[str]:
    if n_layers == 2:
        return ["입력층", "출력층"]
    hidden = ["은닉층"] if n_layers == 3 else [f"은닉층 {k}" for k in range(1, n_layers - 1)]
    return ["입력층", *hidden, "출력층"]


def _label_fraction(tails: Sequence[float], heads: Sequence[float], x_step: float,
                    half_width: float = 0.25) -> float:
    """Where along one layer's edges (fraction ``t`` from the tail) to put on-edge labels.

    ``tails``/``heads`` are the nodes' y positions (inches), ``x_step`` the gap between the
    columns. Every label sits on its own edge at the same ``t``; the chosen ``t`` (0.35–0.72)
    keeps the other edges and labels as far as possible from each label box
    (``half_width`` inches either side of its centre).
    """
    edges = [(a, (b - a) / x_step) for a in tails for b in heads]   # (start y, slope)
    if len(edges) < 2:
        return 0.5
    best_t, best = 0.5, -np.inf
    for t in np.linspace(0.35, 0.72, 38):
        ys = [a + s * t * x_step for a, s in edges]
        clearance = min(abs(ys[q] - ys[p]) - abs(edges[q][1]) * half_width
                        for p in range(len(edges)) for q in range(len(edges)) if p != q)
        if clearance > best + 1e-9:
            best_t, best = float(t), clearance
    return best_t


def network_diagram(
    layer_sizes: Sequence[int],
    *,
    weights: Optional[Sequence] = None,
    biases: Optional[Sequence] = None,
    values: Optional[Sequence] = None,
    node_names: Optional[Sequence[Sequence[str]]] = None,
    layer_names: Optional[Sequence[str]] = None,
    activations: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    precision: int = 2,
    edge_colors: str = "sign",
    weight_labels: str = "head",
) -> "graphviz.Digraph":
    """Draw a fully connected network (a perceptron is ``layer_sizes=[2, 1]``).

    Arguments (``L = len(layer_sizes) - 1`` weight layers):

    - ``layer_sizes``: ``[n_0, n_1, …, n_L]``, each ≥ 1, at least two layers.
    - ``weights``: optional list of ``L`` arrays, ``weights[l]`` of shape
      ``(n_{l+1}, n_l)`` — the course's ``W`` convention ``(out, in)``. Each edge is then
      labelled with its weight, coloured blue (≥ 0) or red (< 0), and drawn thicker the
      larger ``|w|``; labels sit near the edge's head so crossing edges stay readable.
    - ``biases``: optional list of ``L`` arrays of shape ``(n_{l+1},)`` or
      ``(n_{l+1}, 1)``; shown inside the receiving node as ``b=…``.
    - ``values``: optional list of ``L + 1`` arrays, ``values[l]`` of shape ``(n_l,)``
      (numbers, or preformatted strings); shown inside each node under its name.
    - ``node_names``: optional names per layer (default ``x1…``, ``h1…``, ``y``).
    - ``layer_names``: optional caption per layer (default 입력층 / 은닉층 / 출력층).
    - ``activations``: optional list of ``L`` activation names, shown in each layer's caption.
    - ``title``: optional caption over the diagram.
    - ``edge_colors``: ``"sign"`` (default: blue ≥ 0, red < 0) or ``"source"``: every edge
      leaving the same node gets that node's colour (:data:`SOURCE_COLORS`, cycling), label
      included, and negative weights are drawn dashed — so a reader can tell which label
      belongs to which of two crossing edges.
    - ``weight_labels``: ``"head"`` (default: each weight label near its edge's head, off to
      one side) or ``"edge"``: each label in a small white box *on* its own edge, all labels of
      a layer at the same fraction of the way along, chosen so that other edges and labels
      pass as far from every box as possible (see ``_label_fraction``).

    Raises ``ValueError``/``TypeError`` naming the argument, the expected shape and what
    was given. Raises :class:`DotNotFoundError` when graphviz's ``dot`` is missing.
    """
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(f"layer_sizes must be a sequence of ints such as [2, 3, 1], got {layer_sizes!r}")
    if len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes needs at least 2 layers (input and output), got {list(layer_sizes)}")
    sizes = int_list("layer_sizes", layer_sizes, min_len=2, example="[2, 3, 1]")
    n_layers = len(sizes)
    L = n_layers - 1
    names = [list(n) for n in node_names] if node_names is not None else _default_names(sizes)
    if len(names) != n_layers or any(len(n) != s for n, s in zip(names, sizes)):
        raise ValueError(f"node_names must give {sizes} names per layer, got {[len(n) for n in names]}")
    captions = list(layer_names) if layer_names is not None else _default_layer_names(n_layers)
    if len(captions) != n_layers:
        raise ValueError(f"layer_names must have {n_layers} entries, got {len(captions)}")
    if weights is not None:
        if len(weights) != L:
            raise ValueError(f"weights must be a list of {L} arrays, got {len(weights)}")
        weights = [_as_matrix(f"weights[{l}]", w, (sizes[l + 1], sizes[l])) for l, w in enumerate(weights)]
    if biases is not None:
        if len(biases) != L:
            raise ValueError(f"biases must be a list of {L} arrays, got {len(biases)}")
        biases = [_as_vector(f"biases[{l}]", b, sizes[l + 1]) for l, b in enumerate(biases)]
    if values is not None:
        if len(values) != n_layers:
            raise ValueError(f"values must be a list of {n_layers} arrays (one per layer), got {len(values)}")
        values = [_as_vector(f"values[{l}]", v, sizes[l]) for l, v in enumerate(values)]
    if edge_colors not in ("sign", "source"):
        raise ValueError(f"edge_colors must be 'sign' or 'source', got {edge_colors!r}")
    if weight_labels not in ("head", "edge"):
        raise ValueError(f"weight_labels must be 'head' or 'edge', got {weight_labels!r}")
    if activations is not None and len(activations) != L:
        raise ValueError(f"activations must have {L} names (one per weight layer), got {len(activations)}")

    # Fixed positions (neato with pinned nodes): layer l in column l, unit i at row i from
    # the top, so the picture keeps the index order and is identical on every run.
    g = new_graph("LR")
    g.engine = "neato"
    g.attr("graph", splines="line", outputorder="edgesfirst", pad="0.3")
    if title:
        g.attr("graph", label=title, labelloc="t", fontsize="14")
    wmax = max((float(np.abs(w).max()) for w in weights), default=1.0) if weights else 1.0
    wmax = wmax or 1.0
    tallest = max(sizes)
    x_step = 2.6
    y_step = 1.25 if (biases is None or values is None) else 1.7
    for layer, size in enumerate(sizes):
        x = layer * x_step
        top = (size - 1) / 2 * y_step
        caption = captions[layer]
        if activations is not None and layer > 0:
            caption = f"{caption}\n({activations[layer - 1]})"
        g.node(f"caption_{layer}", caption, shape="plaintext", fontsize="12", fontcolor="#555555",
               pos=f"{x:.2f},{(tallest - 1) / 2 * y_step + 1.0:.2f}!")
        for i in range(size):
            lines = [names[layer][i]]
            if values is not None:
                lines.append(fmt(values[layer][i], precision))
            if biases is not None and layer > 0:
                lines.append(f"b={fmt(biases[layer - 1][i], precision)}")
            fill = "#e8f0fe" if layer == 0 else ("#fff4e5" if layer == L else "#eef7ee")
            g.node(f"L{layer}_{i}", "\n".join(lines), shape="circle", style="filled", fillcolor=fill,
                   width="0.85", fixedsize="true" if len(lines) < 3 else "false",
                   pos=f"{x:.2f},{top - i * y_step:.2f}!")
    for layer in range(L):
        tails = [((sizes[layer] - 1) / 2 - i) * y_step for i in range(sizes[layer])]
        heads = [((sizes[layer + 1] - 1) / 2 - j) * y_step for j in range(sizes[layer + 1])]
        t_label = _label_fraction(tails, heads, x_step) if weight_labels == "edge" else None
        for i in range(sizes[layer]):
            for j in range(sizes[layer + 1]):
                attrs = {}
                if weights is not None:
                    w = weights[layer][j, i]
                    if edge_colors == "source":
                        color = SOURCE_COLORS[i % len(SOURCE_COLORS)]
                        if w < 0:
                            attrs["style"] = "dashed"
                    else:
                        color = POSITIVE if w >= 0 else NEGATIVE
                    # Each label sits LABEL_FRACTION of the way back from the head (graphviz's
                    # labeldistance counts in 10 pt; ~0.95 in is taken by the two nodes) and
                    # 18° off the edge, so labels of crossing edges stay beside their own edge,
                    # near their own target node, clear of the crossings mid-gap.
                    dy = ((sizes[layer] - 1) / 2 - i - (sizes[layer + 1] - 1) / 2 + j) * y_step
                    gap = max(np.hypot(x_step, dy) - 0.95, 0.5) * 72
                    attrs.update(color=color, penwidth=f"{0.6 + 2.4 * abs(w) / wmax:.2f}")
                    if t_label is None:
                        attrs.update(fontcolor=color, headlabel=fmt(w, precision),
                                     labeldistance=f"{LABEL_FRACTION * gap / 10:.2f}",
                                     labelangle="18", labelfontsize="11")
                    else:  # a white box on the edge itself, drawn over the edges (edgesfirst)
                        y = tails[i] + t_label * (heads[j] - tails[i])
                        g.node(f"w{layer}_{i}_{j}", fmt(w, precision), shape="box", style="filled",
                               fillcolor="white", color="white", fontcolor=color, fontsize="11",
                               margin="0.02,0.01", width="0", height="0",
                               pos=f"{(layer + t_label) * x_step:.2f},{y:.2f}!")
                g.edge(f"L{layer}_{i}", f"L{layer + 1}_{j}", **attrs)
    return g
