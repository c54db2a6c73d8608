"""Scalar computation graphs drawn with graphviz: forward values and backward gradients.

Two ways in, one picture out (a :class:`graphviz.Digraph`):

- :func:`draw_graph` takes **plain data** — a list of node dicts and a list of edges — so a
  notebook can draw any small graph by hand (the apple example: inputs, ``×`` nodes, values
  on the edges, gradients under them).
- :func:`draw_value` walks an **autodiff object** (duck-typed: anything with ``.data``,
  ``.grad``, an ordered ``._prev`` of children and an ``._op`` string, such as the ``Value``
  class chapter 05 writes) and draws it with :func:`draw_graph`. :func:`value_graph` returns
  the plain data it draws, for inspection or tweaking. ``collapse=True`` keeps only the
  labelled values, so a network's graph can be drawn layer by layer.
- :func:`frame_slider` turns a list of drawings (the frames of a step-by-step backward pass)
  into an ``ipywidgets`` slider for learners in Jupyter.

Conventions of every drawing:

- value nodes are rounded boxes (label, then the forward value in black, then the gradient
  in red); operation nodes are small circles showing the operation (``×``, ``+``, ``²`` …);
- on an edge, the forward value is written above in black and the gradient below in red;
  with ``show="backward"`` the arrows point back toward the inputs, the way gradients flow;
- the node a backward step is at can be highlighted (yellow fill, thick orange border);
- node ids and order come only from the input order (never from ``id()`` or randomness), so
  the same graph gives the same DOT source on every run (stored outputs and tests are stable);
- labels may be Korean: they are HTML-escaped and drawn in the course's Korean font.
"""
from __future__ import annotations

import html
import numbers
import re
from typing import Iterable, Mapping, Optional, Sequence, Union

from .checks import check_int, positive_int
from .fmt import format_number
from .graphs import new_graph

__all__ = ["draw_graph", "value_graph", "draw_value", "frame_slider", "ORDERINGS", "SHOW_MODES", "FORWARD_COLOR", "BACKWARD_COLOR",
           "HIGHLIGHT_FILL"]

#: accepted values of the ``show`` argument.
SHOW_MODES = ("forward", "backward", "both")
#: accepted values of the ``ordering`` argument (graphviz's ``ordering`` graph attribute).
ORDERINGS = ("in", "out", None)
FORWARD_COLOR = "#222222"   # forward values: near-black
BACKWARD_COLOR = "#c0392b"  # gradients: red
HIGHLIGHT_FILL = "#ffe066"  # node a backward step is at
HIGHLIGHT_BORDER = "#e67e22"
VALUE_FILL = "#eef4fb"
OP_FILL = "#fff4e5"

_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NODE_KEYS = {"id", "label", "op", "value", "grad"}
_EDGE_KEYS = {"src", "dst", "value", "grad"}
#: ASCII operation names the walker shows with a nicer symbol; anything else is shown as is.
#: (Superscripts such as "²" are drawn tiny by the Korean font, so squares are shown as "^2".)
OP_SYMBOLS = {"*": "×", "mul": "×", "add": "+", "-": "−", "sub": "−", "/": "÷", "div": "÷",
              "**2": "^2", "²": "^2", "pow2": "^2", "neg": "−x"}


def _number(value, what: str) -> Optional[float]:
    """``None`` stays ``None``; a real number becomes ``float``; anything else is a TypeError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # 0-d arrays / tensors with .item() are accepted too
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "shape", None) in ((), ):
            return _number(item(), what)
        raise TypeError(f"{what} must be a real number or None, got {type(value).__name__}: {value!r}")
    return float(value)


def _fmt(value: float, digits: int) -> str:
    """``220.00000000000003 -> '220'``, ``2.2 -> '2.2'``, ``-0.0 -> '0'`` (``digits`` significant)."""
    return format_number(value, digits=digits)


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _check_show(show) -> None:
    if show not in SHOW_MODES:
        raise ValueError(f"show must be one of {SHOW_MODES}, got {show!r}")


def _normalise_nodes(nodes) -> list[dict]:
    if isinstance(nodes, (str, bytes, Mapping)) or not isinstance(nodes, Iterable):
        raise TypeError(f"nodes must be a list of dicts such as {{'id': 'x', 'label': 'x', 'value': 2}}, "
                        f"got {type(nodes).__name__}")
    out, seen = [], set()
    for k, node in enumerate(nodes):
        if not isinstance(node, Mapping):
            raise TypeError(f"nodes[{k}] must be a dict with keys {sorted(_NODE_KEYS)}, got {type(node).__name__}")
        unknown = set(node) - _NODE_KEYS
        if unknown:
            raise ValueError(f"nodes[{k}] has unknown keys {sorted(unknown)}; allowed: {sorted(_NODE_KEYS)}")
        node_id = node.get("id")
        if not isinstance(node_id, str) or not _ID_RE.match(node_id):
            raise ValueError(f"nodes[{k}]['id'] must be an ASCII identifier such as 'price' or 'n3', got {node_id!r}")
        if node_id in seen:
            raise ValueError(f"nodes[{k}]['id'] {node_id!r} is used twice; node ids must be unique")
        seen.add(node_id)
        op = node.get("op")
        if op is not None and (not isinstance(op, str) or not op):
            raise TypeError(f"nodes[{k}]['op'] must be a non-empty str such as '×' or '+', got {op!r}")
        label = node.get("label", node_id if op is None else op)
        if not isinstance(label, str):
            raise TypeError(f"nodes[{k}]['label'] must be a str, got {type(label).__name__}")
        value = _number(node.get("value"), f"nodes[{k}]['value']")
        grad = _number(node.get("grad"), f"nodes[{k}]['grad']")
        if op is not None and (value is not None or grad is not None):
            raise ValueError(f"nodes[{k}] ({node_id!r}) is an operation node (op={op!r}) and cannot carry "
                             f"value/grad; put them on its outgoing edge or on a value node")
        out.append({"id": node_id, "label": label, "op": op, "value": value, "grad": grad})
    if not out:
        raise ValueError("nodes must contain at least one node, got an empty list")
    return out


def _normalise_edges(edges, ids: set) -> list[dict]:
    if isinstance(edges, (str, bytes, Mapping)) or not isinstance(edges, Iterable):
        raise TypeError(f"edges must be a list of (src, dst[, value[, grad]]) tuples or dicts, got {type(edges).__name__}")
    out = []
    for k, edge in enumerate(edges):
        if isinstance(edge, Mapping):
            unknown = set(edge) - _EDGE_KEYS
            if unknown:
                raise ValueError(f"edges[{k}] has unknown keys {sorted(unknown)}; allowed: {sorted(_EDGE_KEYS)}")
            src, dst, value, grad = edge.get("src"), edge.get("dst"), edge.get("value"), edge.get("grad")
        elif isinstance(edge, (tuple, list)) and 2 <= len(edge) <= 4:
            src, dst, value, grad = (list(edge) + [None, None])[:4]
        else:
            raise TypeError(f"edges[{k}] must be a tuple (src, dst[, value[, grad]]) or a dict with keys "
                            f"{sorted(_EDGE_KEYS)}, got {edge!r}")
        for end, name in ((src, "src"), (dst, "dst")):
            if end not in ids:
                raise ValueError(f"edges[{k}] {name} {end!r} is not the id of any node; known ids: {sorted(ids)}")
        out.append({"src": src, "dst": dst, "value": _number(value, f"edges[{k}] value"),
                    "grad": _number(grad, f"edges[{k}] grad")})
    return out


def _highlight_ids(highlight, ids: set) -> set:
    if highlight is None:
        return set()
    if isinstance(highlight, str):
        wanted = [highlight]
    elif isinstance(highlight, Iterable):
        wanted = list(highlight)
    else:
        raise TypeError(f"highlight must be a node id (str) or a list of ids, got {type(highlight).__name__}")
    for h in wanted:
        if h not in ids:
            raise ValueError(f"highlight {h!r} is not the id of any node; known ids: {sorted(ids)}")
    return set(wanted)


def _value_label(label: str, value, grad, show: str, digits: int) -> str:
    rows = [f"<tr><td>{_esc(label)}</td></tr>"] if label else []
    if show in ("forward", "both") and value is not None:
        rows.append(f'<tr><td><font color="{FORWARD_COLOR}">{_esc(_fmt(value, digits))}</font></td></tr>')
    if show in ("backward", "both") and grad is not None:
        rows.append(f'<tr><td><font color="{BACKWARD_COLOR}">grad {_esc(_fmt(grad, digits))}</font></td></tr>')
    if not rows:
        rows = ["<tr><td> </td></tr>"]
    return '<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">' + "".join(rows) + "</table>>"


def _edge_label(value, grad, show: str, digits: int) -> Optional[str]:
    parts = []
    if show in ("forward", "both") and value is not None:
        parts.append(f'<font color="{FORWARD_COLOR}">{_esc(_fmt(value, digits))}</font>')
    if show in ("backward", "both") and grad is not None:
        parts.append(f'<font color="{BACKWARD_COLOR}">{_esc(_fmt(grad, digits))}</font>')
    return "<" + "<br/>".join(parts) + ">" if parts else None


def draw_graph(
    nodes: Sequence[Mapping],
    edges: Sequence[Union[tuple, Mapping]],
    *,
    show: str = "forward",
    highlight: Union[None, str, Iterable[str]] = None,
    title: Optional[str] = None,
    legend: bool = True,
    digits: int = 4,
    rankdir: str = "LR",
    ordering: Optional[str] = "in",
) -> "graphviz.Digraph":
    """Draw a scalar computation graph given as plain data.

    Arguments:

    - ``nodes``: list of dicts, one per node, drawn in this order. Keys:

      - ``"id"`` (required): unique ASCII identifier (``"price"``, ``"n3"``) — used in the DOT
        source, so keep it stable;
      - ``"label"``: text shown in the node (Korean is fine); default: the id;
      - ``"op"``: give it (``"×"``, ``"+"``, ``"²"`` …) to make an *operation* node, drawn as
        a small circle showing that symbol; operation nodes carry no value or gradient;
      - ``"value"``: forward value (a real number) shown in black;
      - ``"grad"``: gradient ∂L/∂(this node) (a real number) shown in red as ``grad 2.2``.
    - ``edges``: list of ``(src, dst)``, ``(src, dst, value)`` or ``(src, dst, value, grad)``
      tuples, or dicts with those keys; ``src``/``dst`` are node ids. ``value`` is written
      above the edge in black, ``grad`` below it in red. ``None`` means "nothing to show".
    - ``show``: ``"forward"`` (values only), ``"backward"`` (gradients only; arrows point
      back toward the inputs) or ``"both"`` (values and gradients).
    - ``highlight``: a node id, or several, to highlight (e.g. the node a backward step is at).
    - ``title``: caption over the drawing.
    - ``legend``: when gradients are shown, add a line saying black = forward value,
      red = gradient.
    - ``digits``: significant digits of the numbers shown (``220.00000000000003`` → ``220``).
    - ``rankdir``: ``"LR"`` (inputs on the left, default), ``"TB"``, ``"RL"`` or ``"BT"``.
    - ``ordering``: ``"in"`` (default) keeps the inputs of every node in the order their
      edges are listed (first edge on top with ``rankdir="LR"``), so a label such as
      "귤 가격" sits next to its own edge; ``"out"`` does the same for outgoing edges;
      ``None`` lets graphviz reorder freely.

    Returns a :class:`graphviz.Digraph` (Jupyter renders it; ``.source`` is its DOT text).
    Raises ``TypeError``/``ValueError`` naming the bad argument (unknown keys, duplicate or
    unknown ids, non-numeric values) and :class:`~course_utils.graphs.DotNotFoundError`
    when graphviz's ``dot`` is missing.
    """
    _check_show(show)
    check_int("digits", digits, minimum=1, maximum=12)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    node_list = _normalise_nodes(nodes)
    ids = {n["id"] for n in node_list}
    edge_list = _normalise_edges(edges, ids)
    marked = _highlight_ids(highlight, ids)

    if ordering not in ORDERINGS:
        raise ValueError(f"ordering must be one of {ORDERINGS}, got {ordering!r}")
    g = new_graph(rankdir, ranksep="0.6", nodesep="0.3", pad="0.2")
    if ordering is not None:
        g.attr("graph", ordering=ordering)
    caption = []
    if title:
        caption.append(_esc(title))
    if legend and show in ("backward", "both"):
        bits = [f'<font color="{FORWARD_COLOR}">검정: 순전파 값</font>'] if show == "both" else []
        bits.append(f'<font color="{BACKWARD_COLOR}">빨강: 역전파 기울기 (dL/d·)</font>')
        caption.append('<font point-size="11">' + "  ·  ".join(bits) + "</font>")
    if caption:
        g.attr("graph", label="<" + "<br/>".join(caption) + ">", labelloc="t", fontsize="14")
    for n in node_list:
        attrs = {}
        if n["op"] is not None:
            attrs.update(shape="circle", style="filled", fillcolor=OP_FILL, fontsize="16",
                         width="0.45", fixedsize="true", label=_esc(OP_SYMBOLS.get(n["op"], n["op"])))
            if len(attrs["label"]) > 2:  # "tanh", "exp": let the circle grow
                attrs.update(fixedsize="false", fontsize="12")
        else:
            attrs.update(shape="box", style="rounded,filled", fillcolor=VALUE_FILL,
                         label=_value_label(n["label"], n["value"], n["grad"], show, digits))
        if n["id"] in marked:
            attrs.update(fillcolor=HIGHLIGHT_FILL, color=HIGHLIGHT_BORDER, penwidth="3")
        g.node(n["id"], **attrs)
    for e in edge_list:
        attrs = {}
        text = _edge_label(e["value"], e["grad"], show, digits)
        if text is not None:
            attrs["label"] = text
        if show == "backward":
            attrs.update(dir="back", color=BACKWARD_COLOR)
        g.edge(e["src"], e["dst"], **attrs)
    return g


def _children(obj, where: str) -> tuple:
    for attr in ("_prev", "_children", "children"):
        if hasattr(obj, attr):
            kids = getattr(obj, attr)
            break
    else:
        return ()
    if kids is None:
        return ()
    if isinstance(kids, (set, frozenset)):
        if len(kids) <= 1:
            return tuple(kids)
        raise TypeError(f"{where} keeps its children in a {type(kids).__name__}, whose order changes from run to "
                        f"run; store them as a tuple (e.g. self._prev = (a, b)) for a reproducible drawing")
    if not isinstance(kids, (tuple, list)):
        raise TypeError(f"{where}._prev must be a tuple or list of child nodes, got {type(kids).__name__}")
    return tuple(kids)


def _walk(root, max_nodes: int) -> list:
    """Objects reachable from ``root``, children before parents (inputs first), stable order."""
    if not hasattr(root, "data"):
        raise TypeError(f"root must be an autodiff value with .data, .grad, ._prev and ._op "
                        f"(e.g. chapter 05's Value), got {type(root).__name__}")
    order, state = [], {}  # state: id(obj) -> 1 visiting, 2 done (id() is used only for bookkeeping)
    stack = [(root, False, "root")]
    while stack:
        obj, expanded, where = stack.pop()
        key = id(obj)
        if expanded:
            state[key] = 2
            order.append(obj)
            continue
        if state.get(key) == 2:
            continue
        if state.get(key) == 1:
            raise ValueError(f"the graph under root has a cycle at {where}; a computation graph must be acyclic")
        if not hasattr(obj, "data"):
            raise TypeError(f"{where} has no .data; every node must expose .data, .grad, ._prev and ._op")
        state[key] = 1
        if len(state) > max_nodes:
            raise ValueError(f"the graph has more than max_nodes={max_nodes} values; draw a smaller expression "
                             f"or raise max_nodes")
        stack.append((obj, True, where))
        kids = _children(obj, where)
        for i in reversed(range(len(kids))):  # reversed so the first child is visited first
            stack.append((kids[i], False, f"{where}._prev[{i}]"))
    return order


def _folded_inputs(obj, kept: set, where: str) -> tuple[list, list]:
    """Inputs of ``obj`` after folding its unkept children: (kept inputs in first-use order, ops)."""
    inputs, ops, seen = [], [], set()

    def visit(node, node_where):
        op = getattr(node, "_op", "") or ""
        for i, child in enumerate(_children(node, node_where)):
            if id(child) in kept:
                if id(child) not in seen:
                    seen.add(id(child))
                    inputs.append(child)
            else:
                visit(child, f"{node_where}._prev[{i}]")
        if op and op not in ops:
            ops.append(op)

    visit(obj, where)
    return inputs, ops


def _value_graph(root, max_nodes: int, collapse: bool = False):
    order = _walk(root, max_nodes)
    index = {id(obj): k for k, obj in enumerate(order)}
    kept = None
    if collapse:
        kept = {id(obj) for obj in order
                if obj is root or not _children(obj, "node") or (getattr(obj, "label", "") or "")}
    nodes, edges = [], []
    for k, obj in enumerate(order):
        if kept is not None and id(obj) not in kept:
            continue
        where = f"node v{k}"
        label = getattr(obj, "label", "") or ""
        if not isinstance(label, str):
            raise TypeError(f"{where}.label must be a str, got {type(label).__name__}")
        nodes.append({"id": f"v{k}", "label": label,
                      "value": _number(getattr(obj, "data"), f"{where}.data"),
                      "grad": _number(getattr(obj, "grad", None), f"{where}.grad")})
        op = getattr(obj, "_op", "") or ""
        if not isinstance(op, str):
            raise TypeError(f"{where}._op must be a str such as '+' or '×', got {type(op).__name__}")
        kids = _children(obj, where)
        if kids and kept is not None:
            kids, ops = _folded_inputs(obj, kept, where)
            op = "".join(OP_SYMBOLS.get(o, o) for o in ops)
        if kids:
            target = f"v{k}"
            if op:
                nodes.append({"id": f"v{k}_op", "op": op})
                edges.append((f"v{k}_op", target))
                target = f"v{k}_op"
            for child in kids:
                edges.append((f"v{index[id(child)]}", target))
    return order, nodes, edges


def value_graph(root, *, max_nodes: int = 200, collapse: bool = False) -> tuple[list[dict], list[tuple]]:
    """Walk an autodiff value and return ``(nodes, edges)`` in :func:`draw_graph`'s format.

    ``root`` is duck-typed: any object with ``.data`` (a number), optionally ``.grad`` (a
    number or ``None``), ``.label`` (str) and ``._op`` (str, ``""`` for an input), and its
    inputs in ``._prev`` (or ``._children`` / ``.children``) as a **tuple or list** — a set
    is refused because its order changes between runs.

    Node ids are ``v0, v1, …`` in a depth-first order from the root that visits children
    in their stored order and lists every child before its parent (so inputs come first).
    A value made by an operation gets an extra operation node ``v{k}_op``. The ids depend
    only on the graph's structure, never on ``id()``, so the same expression built twice
    gives identical data. More than ``max_nodes`` values raises ``ValueError``.

    ``collapse=True`` draws a large graph layer by layer: only the root, the inputs (values
    without children) and the values that have a non-empty ``.label`` are kept; every
    unlabelled intermediate value is folded into the operation node of the labelled value
    that uses it. That operation node then lists the folded operations in the order they
    run (``"×+"`` for a weighted sum ``w1*x1 + w2*x2 + b``) and takes each kept input once.
    Node ids stay those of the full graph (``v7`` is the same value either way).
    """
    positive_int("max_nodes", max_nodes)
    if not isinstance(collapse, bool):
        raise TypeError(f"collapse must be True or False, got {collapse!r}")
    _, nodes, edges = _value_graph(root, max_nodes, collapse)
    return nodes, edges


def draw_value(
    root,
    *,
    show: str = "both",
    highlight=None,
    title: Optional[str] = None,
    legend: bool = True,
    digits: int = 4,
    rankdir: str = "LR",
    max_nodes: int = 200,
    collapse: bool = False,
    ordering: Optional[str] = "in",
) -> "graphviz.Digraph":
    """Draw the computation graph that produced ``root`` (see :func:`value_graph`).

    Each value is a box with its label, ``.data`` (black) and ``.grad`` (red); each
    operation is a circle between its inputs and its result. ``highlight`` is one value
    object of the graph, or a list of them (matched by identity, e.g. the node whose
    backward step just ran), or node ids such as ``"v3"``; a value that is not in the graph
    raises ``ValueError``; with ``collapse=True`` (see :func:`value_graph`) only a kept value
    can be highlighted. The other arguments are those of :func:`draw_graph`.

    Example (with chapter 05's ``Value``; any object with the same attributes works)::

        x, y = Value(3.0, label="x"), Value(1.0, label="y")
        z = (x + y).square()
        z.backward()
        draw_value(z, title="z = (x + y)^2")             # values and gradients
        draw_value(z, show="forward", highlight=x)       # values only, x highlighted
    """
    positive_int("max_nodes", max_nodes)
    _check_show(show)
    if not isinstance(collapse, bool):
        raise TypeError(f"collapse must be True or False, got {collapse!r}")
    order, nodes, edges = _value_graph(root, max_nodes, collapse)
    ids = None
    if highlight is not None:
        if isinstance(highlight, str) or hasattr(highlight, "data"):
            wanted = [highlight]
        elif isinstance(highlight, Iterable):
            wanted = list(highlight)
        else:
            raise TypeError(f"highlight must be a value of the graph, a node id or a list of them, "
                            f"got {type(highlight).__name__}")
        position = {id(obj): k for k, obj in enumerate(order)}
        ids = []
        for h in wanted:
            if isinstance(h, str):
                ids.append(h)
            elif id(h) in position:
                ids.append(f"v{position[id(h)]}")
            else:
                raise ValueError(f"highlight {h!r} is not a value in the graph under root")
    if ids is not None:
        drawn = {n["id"] for n in nodes}
        for node_id in ids:
            if node_id not in drawn:
                raise ValueError(f"highlight {node_id!r} is folded away by collapse=True; give that value a "
                                 f"label to keep it in the drawing")
    return draw_graph(nodes, edges, show=show, highlight=ids, title=title, legend=legend, digits=digits,
                      rankdir=rankdir, ordering=ordering)


def frame_slider(frames: Sequence, *, description: str = "단계") -> "ipywidgets.VBox":
    """A slider that shows one drawing of ``frames`` at a time, for learners in Jupyter.

    ``frames`` is a non-empty list of drawings (:class:`graphviz.Digraph`, e.g. the frames of a
    step-by-step backward pass made with :func:`draw_value`). Each is rendered to PNG once; the
    returned ``ipywidgets.VBox`` holds an ``IntSlider`` (``.slider``, 0 … len(frames) − 1) and an
    ``Image`` (``.image``) that shows frame ``slider.value``; ``.pngs`` is the list of PNG bytes.
    Its text form is one short line (``frame_slider: 5 frames``), so a stored notebook shows no
    image bytes as text. Raises ``ValueError`` for an empty list, ``TypeError`` for a frame that
    is not a graphviz drawing or a ``description`` that is not a str.
    """
    import ipywidgets as widgets

    if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise TypeError(f"frames must be a list of graphviz drawings, got {type(frames).__name__}")
    frames = list(frames)
    if not frames:
        raise ValueError("frames must contain at least one drawing, got an empty list")
    for k, frame in enumerate(frames):
        if not callable(getattr(frame, "pipe", None)) or not hasattr(frame, "source"):
            raise TypeError(f"frames[{k}] must be a graphviz drawing (such as draw_value's result), "
                            f"got {type(frame).__name__}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")
    pngs = [frame.pipe(format="png") for frame in frames]

    class FrameSlider(widgets.VBox):
        def __repr__(self):
            return f"frame_slider: {len(pngs)} frames"

    slider = widgets.IntSlider(value=0, min=0, max=len(pngs) - 1, step=1, description=description,
                               continuous_update=True)
    image = widgets.Image(value=pngs[0], format="png")

    def show(change):
        image.value = pngs[change["new"]]

    slider.observe(show, names="value")
    box = FrameSlider(children=[slider, image])
    box.slider, box.image, box.pngs = slider, image, pngs
    return box
