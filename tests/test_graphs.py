import shutil

import graphviz
import numpy as np
import pytest

from course_utils import graphs


def test_check_dot_reports_a_version():
    assert graphs.check_dot()[0].isdigit()


def test_missing_dot_gives_one_clear_message(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(graphs.DotNotFoundError) as err:
        graphs.network_diagram([2, 1])
    assert "apt-get install graphviz" in str(err.value)
    assert "brew install graphviz" in str(err.value)


def test_missing_dot_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(graphs.DotNotFoundError, match="not on PATH"):
        graphs.check_dot()


def test_new_graph_uses_korean_font_and_validates_rankdir():
    g = graphs.new_graph("TB")
    assert isinstance(g, graphviz.Digraph)
    assert "NanumGothic" in g.source and "rankdir=TB" in g.source
    with pytest.raises(ValueError, match="rankdir"):
        graphs.new_graph("sideways")


@pytest.mark.parametrize("value, text", [(0.6, "0.60"), (3, "3"), (-0.0, "0.00"), (-0.001, "0.00"), ("a=1", "a=1"),
                                         (np.int64(2), "2"), (True, "1")])
def test_fmt(value, text):
    assert graphs.fmt(value) == text


def test_perceptron_diagram_shows_weights_values_and_layers():
    g = graphs.network_diagram([2, 1], weights=[[[0.6, -0.3]]], biases=[[1.0]], values=[[3, 8], [1]])
    src = g.source
    assert "입력층" in src and "출력층" in src
    assert "0.60" in src and "-0.30" in src and "b=1.00" in src
    assert graphs.POSITIVE in src and graphs.NEGATIVE in src   # sign shown by colour
    assert src.count("->") == 2
    png = g.pipe(format="png")
    assert png[:4] == b"\x89PNG"


def test_network_diagram_is_stable_and_ordered():
    kwargs = dict(weights=[np.ones((3, 2)), np.ones((1, 3))], activations=["ReLU", "sigmoid"])
    a = graphs.network_diagram([2, 3, 1], **kwargs).source
    b = graphs.network_diagram([2, 3, 1], **kwargs).source
    assert a == b
    assert a.index("L1_0") < a.index("L1_1") < a.index("L1_2")
    assert "은닉층" in a and "(ReLU)" in a


def test_network_diagram_accepts_string_values_and_names():
    g = graphs.network_diagram([1, 1], values=[["a=1"], ["z=2"]], node_names=[["in"], ["out"]],
                               layer_names=["A", "B"], title="T")
    assert "a=1" in g.source and "out" in g.source and "label=T" in g.source


@pytest.mark.parametrize("kwargs, message", [
    (dict(layer_sizes=[2]), "at least 2 layers"),
    (dict(layer_sizes=[2, 0]), r"layer_sizes\[1\] must be a positive int, got 0"),
    (dict(layer_sizes=[2, 1], weights=[np.ones((2, 1))]), r"weights\[0\] must have shape \(1, 2\) \(out, in\), got \(2, 1\)"),
    (dict(layer_sizes=[2, 1], weights=[]), "list of 1 arrays"),
    (dict(layer_sizes=[2, 1], biases=[[1, 2]]), r"biases\[0\] must hold 1 values"),
    (dict(layer_sizes=[2, 1], values=[[1, 2]]), "one per layer"),
    (dict(layer_sizes=[2, 1], node_names=[["a"], ["b"]]), "node_names"),
    (dict(layer_sizes=[2, 1], layer_names=["one"]), "layer_names"),
    (dict(layer_sizes=[2, 1], activations=["a", "b"]), "activations"),
])
def test_network_diagram_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        graphs.network_diagram(**kwargs)


def test_network_diagram_rejects_a_string_of_sizes():
    with pytest.raises(TypeError, match="sequence of ints"):
        graphs.network_diagram("21")


def test_network_diagram_rejects_non_numeric_weights():
    with pytest.raises(TypeError, match="weights"):
        graphs.network_diagram([2, 1], weights=[[["a", "b"]]])


def test_network_diagram_can_colour_edges_by_source_node():
    W1 = np.array([[0.1, 0.1], [0.2, -0.2], [0.3, 0.3]])   # (3, 2): rows = receiving node
    src = graphs.network_diagram([2, 3, 1], weights=[W1, np.ones((1, 3))], edge_colors="source").source
    edges = [line for line in src.splitlines() if "->" in line]
    from_x1 = [e for e in edges if e.strip().startswith("L0_0 ")]
    from_x2 = [e for e in edges if e.strip().startswith("L0_1 ")]
    assert len(from_x1) == len(from_x2) == 3
    assert all(graphs.SOURCE_COLORS[0] in e for e in from_x1)
    assert all(graphs.SOURCE_COLORS[1] in e for e in from_x2)
    assert not any(graphs.SOURCE_COLORS[1] in e for e in from_x1)
    dashed = [e for e in edges if "dashed" in e]
    assert len(dashed) == 1 and dashed[0].strip().startswith("L0_1 -> L1_1")   # the one negative weight
    assert graphs.NEGATIVE not in src                                        # sign is not the colour here
    with pytest.raises(ValueError, match="edge_colors"):
        graphs.network_diagram([2, 1], edge_colors="rainbow")


def test_network_diagram_can_put_each_weight_label_on_its_own_edge():
    import re

    W1 = np.array([[-11.14, -14.2], [10.3, -11.7], [0.28, 7.88], [0.07, 0.16]])   # (4, 2)
    W2 = np.array([[7.7, 5.59, 11.88, -3.33]])
    src = graphs.network_diagram([2, 4, 1], weights=[W1, W2], weight_labels="edge").source
    pos = {name: tuple(map(float, xy.split(",")))
           for name, xy in re.findall(r'^\s*(\w+) \[.*?pos="([-0-9.,]+)!"', src, flags=re.M)}
    assert "headlabel" not in src
    for layer, W in enumerate([W1, W2]):
        fractions = set()
        for j, i in np.ndindex(W.shape):
            label = f"w{layer}_{i}_{j}"
            assert re.search(rf'{label} \[label="?{re.escape(graphs.fmt(W[j, i]))}"? ', src), label
            (x0, y0), (x1, y1), (x, y) = pos[f"L{layer}_{i}"], pos[f"L{layer + 1}_{j}"], pos[label]
            t = (x - x0) / (x1 - x0)
            assert 0.3 <= t <= 0.75 and abs(y - (y0 + t * (y1 - y0))) < 0.03   # on the straight edge
            fractions.add(round(t, 2))
        assert len(fractions) == 1                                              # one fraction per layer
    # the labels of one layer keep apart: no two label centres closer than 0.3 in vertically
    ys = sorted(pos[f"w0_{i}_{j}"][1] for j, i in np.ndindex(W1.shape))
    assert min(np.diff(ys)) > 0.3
    with pytest.raises(ValueError, match="weight_labels"):
        graphs.network_diagram([2, 1], weight_labels="middle")
