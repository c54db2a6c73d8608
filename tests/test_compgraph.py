"""Tests of course_utils.compgraph (scalar computation-graph drawings)."""
from __future__ import annotations

import re

import numpy as np
import pytest

graphviz = pytest.importorskip("graphviz")

from course_utils import compgraph  # noqa: E402
from course_utils.compgraph import draw_graph, draw_value, value_graph  # noqa: E402
from course_utils.graphs import check_dot  # noqa: E402

try:
    check_dot()
    HAVE_DOT = True
except Exception:  # pragma: no cover - dot is installed in CI
    HAVE_DOT = False
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="graphviz `dot` not installed")


# ---------------------------------------------------------------- a tiny duck-typed autodiff value
class V:
    """Minimal stand-in for chapter 05's Value: .data, .grad, ordered ._prev, ._op, .label."""

    def __init__(self, data, prev=(), op="", label=""):
        self.data, self.grad, self._prev, self._op, self.label = data, 0.0, tuple(prev), op, label

    def __add__(self, other):
        return V(self.data + other.data, (self, other), "+")

    def __mul__(self, other):
        return V(self.data * other.data, (self, other), "×")


def apple_data():
    nodes = [
        {"id": "price", "label": "사과 가격"},
        {"id": "count", "label": "사과 개수"},
        {"id": "tax", "label": "소비세"},
        {"id": "mul1", "op": "×"},
        {"id": "mul2", "op": "×"},
        {"id": "pay", "label": "지불 금액"},
    ]
    edges = [("price", "mul1", 100, 2.2), ("count", "mul1", 2, 110), ("mul1", "mul2", 200, 1.1),
             ("tax", "mul2", 1.1, 200), {"src": "mul2", "dst": "pay", "value": 220.00000000000003, "grad": 1}]
    return nodes, edges


def build_expr():
    a, b, c = V(2.0, label="a"), V(-3.0, label="b"), V(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    return a, b, c, e, d


# ---------------------------------------------------------------- draw_graph
@needs_dot
def test_draw_graph_forward_shows_values_not_grads():
    g = draw_graph(*apple_data(), show="forward", title="사과")
    assert isinstance(g, graphviz.Digraph)
    src = g.source
    assert "사과 가격" in src and "지불 금액" in src and "소비세" in src  # Hangul kept as is
    assert ">100<" in src and ">220<" in src  # 220.00000000000003 printed as 220
    assert compgraph.BACKWARD_COLOR not in src  # no gradient text in forward mode
    assert "dir=back" not in src


@needs_dot
def test_draw_graph_both_shows_value_above_gradient():
    src = draw_graph(*apple_data(), show="both").source
    # forward value first (black), then the gradient (red) on the same edge label
    assert re.search(r'price -> mul1 \[label=<<font color="#222222">100</font><br/><font color="#c0392b">2.2</font>>', src)
    assert ">110<" in src and ">200<" in src
    assert "역전파 기울기" in src  # legend


@needs_dot
def test_draw_graph_backward_reverses_arrows_and_hides_values():
    src = draw_graph(*apple_data(), show="backward", legend=False).source
    assert src.count("dir=back") == 5
    assert ">100<" not in src and ">2.2<" in src
    assert "역전파 기울기" not in src


@needs_dot
def test_draw_graph_op_nodes_and_value_nodes():
    nodes = [{"id": "x", "value": 2, "grad": 6}, {"id": "y", "label": "y", "value": 1, "grad": 6},
             {"id": "add", "op": "+"}, {"id": "t", "value": 3, "grad": 6}, {"id": "sq", "op": "**2"},
             {"id": "z", "value": 9, "grad": 1}]
    edges = [("x", "add"), ("y", "add"), ("add", "t"), ("t", "sq"), ("sq", "z")]
    src = draw_graph(nodes, edges, show="both").source
    assert 'add [label="+"' in src and "shape=circle" in src
    assert 'sq [label="^2"' in src  # "**2" shown as ^2 (a superscript ² is tiny in the Korean font)
    assert ">grad 6<" in src and ">9<" in src
    # edges without values get no label
    assert re.search(r"x -> add\s*$", src, re.M)


@needs_dot
def test_draw_graph_highlight():
    src = draw_graph(*apple_data(), highlight="mul2").source
    line = [l for l in src.splitlines() if l.strip().startswith("mul2 [")][0]
    assert compgraph.HIGHLIGHT_FILL in line and "penwidth=3" in line
    other = [l for l in src.splitlines() if l.strip().startswith("mul1 [")][0]
    assert compgraph.HIGHLIGHT_FILL not in other
    src2 = draw_graph(*apple_data(), highlight=["mul1", "mul2"]).source
    assert src2.count(compgraph.HIGHLIGHT_FILL) == 2


@needs_dot
def test_draw_graph_is_reproducible_and_escapes_labels():
    a = draw_graph(*apple_data(), show="both", title="a < b & 한글").source
    b = draw_graph(*apple_data(), show="both", title="a < b & 한글").source
    assert a == b
    assert "a &lt; b &amp; 한글" in a


@needs_dot
def test_draw_graph_numpy_and_digits():
    nodes = [{"id": "a", "value": np.float64(1 / 3)}, {"id": "b", "value": np.array(2.5)}]
    src = draw_graph(nodes, [("a", "b", np.float32(0.125))], digits=2).source
    assert ">0.33<" in src and ">2.5<" in src and ">0.12<" in src


@needs_dot
def test_draw_graph_renders_png(tmp_path):
    out = draw_graph(*apple_data(), show="both").render(tmp_path / "apple", format="png")
    assert (tmp_path / "apple.png").stat().st_size > 1000, out


@pytest.mark.parametrize(
    "nodes, edges, kwargs, error, match",
    [
        ("abc", [], {}, TypeError, "nodes must be a list"),
        ([], [], {}, ValueError, "at least one node"),
        ([1], [], {}, TypeError, r"nodes\[0\] must be a dict"),
        ([{"id": "a b"}], [], {}, ValueError, "ASCII identifier"),
        ([{"id": "사과"}], [], {}, ValueError, "ASCII identifier"),
        ([{"id": "a"}, {"id": "a"}], [], {}, ValueError, "used twice"),
        ([{"id": "a", "vlaue": 1}], [], {}, ValueError, "unknown keys"),
        ([{"id": "a", "value": "1"}], [], {}, TypeError, r"nodes\[0\]\['value'\] must be a real number"),
        ([{"id": "a", "grad": True}], [], {}, TypeError, "grad"),
        ([{"id": "a", "label": 3}], [], {}, TypeError, "label"),
        ([{"id": "m", "op": "×", "value": 2}], [], {}, ValueError, "operation node"),
        ([{"id": "m", "op": ""}], [], {}, TypeError, "op"),
        ([{"id": "a"}], [("a", "b")], {}, ValueError, "dst 'b' is not the id"),
        ([{"id": "a"}], [("a",)], {}, TypeError, r"edges\[0\] must be a tuple"),
        ([{"id": "a"}], [{"src": "a", "dst": "a", "gard": 1}], {}, ValueError, "unknown keys"),
        ([{"id": "a"}], [("a", "a", [1, 2])], {}, TypeError, "edges\\[0\\] value"),
        ([{"id": "a"}], {"a": "a"}, {}, TypeError, "edges must be a list"),
        ([{"id": "a"}], [], {"show": "sideways"}, ValueError, "show must be one of"),
        ([{"id": "a"}], [], {"highlight": "zz"}, ValueError, "highlight 'zz'"),
        ([{"id": "a"}], [], {"highlight": 3}, TypeError, "highlight must be"),
        ([{"id": "a"}], [], {"digits": 0}, ValueError, "digits"),
        ([{"id": "a"}], [], {"title": 5}, TypeError, "title"),
        ([{"id": "a"}], [], {"rankdir": "XY"}, ValueError, "rankdir"),
    ],
)
@needs_dot
def test_draw_graph_bad_input(nodes, edges, kwargs, error, match):
    with pytest.raises(error, match=match):
        draw_graph(nodes, edges, **kwargs)


# ---------------------------------------------------------------- value_graph / draw_value
def test_value_graph_order_and_ids():
    a, b, c, e, d = build_expr()
    nodes, edges = value_graph(d)
    ids = [n["id"] for n in nodes]
    # inputs first, children in stored order, an op node after each computed value
    assert ids == ["v0", "v1", "v2", "v2_op", "v3", "v4", "v4_op"]
    assert [n.get("label") for n in nodes if "op" not in n] == ["a", "b", "e", "c", "d"]
    assert [n["value"] for n in nodes if "op" not in n] == [2.0, -3.0, -6.0, 10.0, 4.0]
    assert edges == [("v2_op", "v2"), ("v0", "v2_op"), ("v1", "v2_op"),
                     ("v4_op", "v4"), ("v2", "v4_op"), ("v3", "v4_op")]


def test_value_graph_shared_node_appears_once():
    x = V(3.0, label="x")
    y = x * x
    nodes, edges = value_graph(y)
    assert [n["id"] for n in nodes] == ["v0", "v1", "v1_op"]
    assert edges == [("v1_op", "v1"), ("v0", "v1_op"), ("v0", "v1_op")]


@needs_dot
def test_draw_value_is_stable_across_rebuilds():
    # the same expression built twice (new objects, new id()s) gives identical DOT source
    first = draw_value(build_expr()[-1], title="식").source
    second = draw_value(build_expr()[-1], title="식").source
    assert first == second
    assert "0x" not in first


@needs_dot
def test_draw_value_highlight_by_object_and_id():
    a, b, c, e, d = build_expr()
    src = draw_value(d, highlight=e).source
    line = [l for l in src.splitlines() if l.strip().startswith("v2 [")][0]
    assert compgraph.HIGHLIGHT_FILL in line
    assert draw_value(d, highlight="v2").source == src
    assert draw_value(d, highlight=[a, e]).source.count(compgraph.HIGHLIGHT_FILL) == 2
    with pytest.raises(ValueError, match="not a value in the graph"):
        draw_value(d, highlight=V(1.0))
    with pytest.raises(TypeError, match="highlight must be"):
        draw_value(d, highlight=2.5)
    with pytest.raises(ValueError, match="show must be one of"):
        draw_value(d, show="all")


@needs_dot
def test_draw_value_shows_grads_and_data():
    a, b, c, e, d = build_expr()
    d.grad, c.grad, e.grad, a.grad, b.grad = 1.0, 1.0, 1.0, -3.0, 2.0
    src = draw_value(d, show="both").source
    assert ">-6<" in src and ">grad -3<" in src and ">grad 2<" in src
    assert 'label="×"' in src and 'label="+"' in src
    fwd = draw_value(d, show="forward").source
    assert "grad" not in fwd


def test_value_graph_bad_input():
    with pytest.raises(TypeError, match="root must be an autodiff value"):
        value_graph(3.0)
    s = V(1.0)
    s._prev = {V(1.0), V(2.0)}
    with pytest.raises(TypeError, match="tuple"):
        value_graph(s)
    bad = V(1.0, (V("x"),), "+")
    with pytest.raises(TypeError, match=r"node v0.data must be a real number"):
        value_graph(bad)
    nochild = V(1.0, (object(),), "+")
    with pytest.raises(TypeError, match=r"root._prev\[0\] has no .data"):
        value_graph(nochild)
    x = V(1.0)
    for _ in range(10):
        x = x + V(1.0)
    with pytest.raises(ValueError, match="max_nodes"):
        value_graph(x, max_nodes=5)
    with pytest.raises(ValueError, match="max_nodes must be"):
        value_graph(x, max_nodes=0)
    op = V(1.0, (V(2.0),), op=3)
    with pytest.raises(TypeError, match="_op must be a str"):
        value_graph(op)


def test_value_graph_cycle_is_refused():
    a = V(1.0)
    b = V(2.0, (a,), "+")
    a._prev = (b,)
    with pytest.raises(ValueError, match="cycle"):
        value_graph(b)


def test_value_graph_grad_none_and_leaf_sets():
    leaf = V(5.0, label="잎")
    leaf.grad = None
    leaf._prev = set()  # an empty set (micrograd's leaves) is fine: no order to lose
    nodes, edges = value_graph(leaf)
    assert nodes == [{"id": "v0", "label": "잎", "value": 5.0, "grad": None}] and edges == []


@needs_dot
def test_torch_scalars_are_accepted():
    torch = pytest.importorskip("torch")
    src = draw_graph([{"id": "w", "value": torch.tensor(2.0), "grad": torch.tensor(8.0)}], []).source
    assert ">2<" in src
    with pytest.raises(TypeError, match="real number"):
        draw_graph([{"id": "w", "value": torch.tensor([1.0, 2.0])}], [])


# ---------------------------------------------------------------- ordering, collapse, frame_slider
def _basket():
    nodes = [{"id": "a_price", "label": "사과 가격"}, {"id": "a_count", "label": "사과 개수"},
             {"id": "o_price", "label": "귤 가격"}, {"id": "o_count", "label": "귤 개수"},
             {"id": "tax", "label": "소비세"}, {"id": "m1", "op": "×"}, {"id": "m2", "op": "×"},
             {"id": "add", "op": "+"}, {"id": "m3", "op": "×"}, {"id": "pay", "label": "L"}]
    edges = [("a_price", "m1", 100, 2.2), ("a_count", "m1", 2, 110), ("o_price", "m2", 150, 3.3),
             ("o_count", "m2", 3, 165), ("m1", "add", 200, 1.1), ("m2", "add", 450, 1.1),
             ("add", "m3", 650, 1.1), ("tax", "m3", 1.1, 650), ("m3", "pay", 715, 1)]
    return nodes, edges


def _plain_y(graph) -> dict:
    """Node id -> y position from `dot -Tplain` (larger y = higher on the page)."""
    out = {}
    for line in graph.pipe(format="plain").decode().splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            out[parts[1]] = float(parts[3])
    return out


@needs_dot
def test_ordering_in_keeps_each_input_next_to_its_own_edge():
    y = _plain_y(draw_graph(*_basket(), show="both"))
    # the first listed input of every × node is drawn above the second (the 귤 가격 / 귤 개수 bug)
    assert y["o_price"] > y["o_count"] and y["a_price"] > y["a_count"]
    assert "ordering=in" in draw_graph(*_basket()).source
    assert "ordering" not in draw_graph(*_basket(), ordering=None).source
    with pytest.raises(ValueError, match="ordering must be one of"):
        draw_graph(*_basket(), ordering="sideways")


def build_neuron():
    """a = relu(w1*x1 + w2*x2 + b) with only x1, x2, w1, w2, b, z and a labelled."""
    x1, x2 = V(1.0, label="x1"), V(2.0, label="x2")
    w1, w2, b = V(0.5, label="w1"), V(-1.0, label="w2"), V(3.0, label="b")
    z = x1 * w1 + x2 * w2 + b
    z.label = "z"
    a = V(max(z.data, 0.0), (z,), "relu")
    a.label = "a"
    return x1, x2, w1, w2, b, z, a


def test_value_graph_collapse_folds_unlabelled_values():
    *_, a = build_neuron()
    full_nodes, _ = value_graph(a)
    nodes, edges = value_graph(a, collapse=True)
    full_values = [n for n in full_nodes if "op" not in n]
    values = [n for n in nodes if "op" not in n]
    assert len(full_values) == 10 and [n["label"] for n in values] == ["x1", "w1", "x2", "w2", "b", "z", "a"]
    ops = {n["id"]: n["op"] for n in nodes if "op" in n}
    z_id = [n["id"] for n in values if n["label"] == "z"][0]
    assert ops[f"{z_id}_op"] == "×+"               # two products and two sums folded into one node
    inputs = [src for src, dst in edges if dst == f"{z_id}_op"]
    label = {n["id"]: n["label"] for n in values}
    assert [label[i] for i in inputs] == ["x1", "w1", "x2", "w2", "b"]
    assert value_graph(a, collapse=False) == (full_nodes, _)
    with pytest.raises(TypeError, match="collapse must be"):
        value_graph(a, collapse="yes")


def test_value_graph_collapse_takes_a_reused_input_once():
    x = V(3.0, label="x")
    f = x * x + x
    f.label = "f"
    nodes, edges = value_graph(f, collapse=True)
    assert [n.get("label") for n in nodes] == ["x", "f", None]
    assert edges == [("v2_op", "v2"), ("v0", "v2_op")]


@needs_dot
def test_draw_value_collapse_and_highlight():
    x1, x2, w1, w2, b, z, a = build_neuron()
    src = draw_value(a, collapse=True, highlight=z).source
    assert "×+" in src and src.count(compgraph.HIGHLIGHT_FILL) == 1
    hidden = a._prev[0]._prev[0]                   # x1*w1 + x2*w2: folded away
    with pytest.raises(ValueError, match="folded away"):
        draw_value(a, collapse=True, highlight=hidden)


@needs_dot
def test_frame_slider_shows_the_chosen_frame():
    pytest.importorskip("ipywidgets")
    from course_utils.compgraph import frame_slider

    nodes, edges = _basket()
    frames = [draw_graph(nodes, edges, highlight=h) for h in ("m3", "add", "m2")]
    box = frame_slider(frames, description="단계")
    assert (box.slider.min, box.slider.max, box.slider.value) == (0, 2, 0)
    assert box.image.value == box.pngs[0] == frames[0].pipe(format="png")
    assert len(set(box.pngs)) == 3                 # three different pictures
    box.slider.value = 2
    assert box.image.value == box.pngs[2]
    box.slider.value = 1
    assert box.image.value == box.pngs[1]
    assert repr(box) == "frame_slider: 3 frames"   # no image bytes in the notebook's text output
    bundle = box._repr_mimebundle_()
    assert bundle["text/plain"] == "frame_slider: 3 frames"


def test_frame_slider_bad_input():
    pytest.importorskip("ipywidgets")
    from course_utils.compgraph import frame_slider

    with pytest.raises(ValueError, match="at least one"):
        frame_slider([])
    with pytest.raises(TypeError, match=r"frames\[0\] must be a graphviz drawing"):
        frame_slider(["not a graph"])
    with pytest.raises(TypeError, match="frames must be a list"):
        frame_slider("abc")
