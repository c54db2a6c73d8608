"""Tests of course_utils.torchgraph (autograd graphs with values, grads and stable ids)."""
import re

import numpy as np
import pytest
import torch

from course_utils import graphs, torchgraph
from course_utils.torchgraph import autograd_graph, _format_tensor


def _chain():
    w = torch.tensor(2.0, requires_grad=True)
    z = 2 * w**2 + 5
    return w, z


def test_scalar_graph_shows_value_and_grad_after_backward():
    w, z = _chain()
    before = autograd_graph(z, {"w": w}, output_name="z").source
    assert "grad = None" in before
    assert "값 = 2.000" in before and "값 = 13.000" in before
    z.backward()
    after = autograd_graph(z, {"w": w}, output_name="z").source
    assert "grad = 8.000" in after
    for op in ("AddBackward0", "MulBackward0", "PowBackward0", "AccumulateGrad"):
        assert op in after


def test_node_ids_are_stable_and_not_addresses():
    sources = []
    for _ in range(2):
        w, z = _chain()
        sources.append(autograd_graph(z, {"w": w}, output_name="z").source)
    assert sources[0] == sources[1]
    ids = set(re.findall(r"^\t(\S+) (?:\[|->)", sources[0], flags=re.M)) - {"graph", "node", "edge"}
    assert ids and all(re.fullmatch(r"n\d+", i) for i in ids)
    assert not re.search(r"\d{9,}", sources[0])


def test_edges_keep_the_structure_of_torchviz():
    w, z = _chain()
    src = autograd_graph(z, {"w": w}).source
    assert src.count("->") == 5  # w→AccumulateGrad→Pow→Mul→Add→z
    assert "NanumGothic" in src and "rankdir=TB" in src


def test_network_graph_names_every_parameter_and_summarises_big_tensors():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    loss = net(torch.randn(4, 2)).pow(2).mean()
    loss.backward()
    src = autograd_graph(loss, dict(net.named_parameters()), output_name="loss", max_entries=4).source
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert name in src
    assert "mean" in src  # 0.weight has 6 > 4 entries: summarised
    assert "grad = None" not in src


def test_unnamed_leaf_and_title():
    a = torch.tensor([1.0, -2.0], requires_grad=True)
    out = (a * 3).sum()
    src = autograd_graph(out, title="제목").source
    assert "leaf  (2)" in src and "[1.000, -2.000]" in src and "제목" in src


def test_renders_png(tmp_path):
    w, z = _chain()
    z.backward()
    path = autograd_graph(z, {"w": w}).render(str(tmp_path / "g"), format="png")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_format_tensor():
    assert _format_tensor(None) == "None"
    assert _format_tensor(torch.tensor(-0.0)) == "0.000"
    assert _format_tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), precision=1) == "[1.0, 2.0]\n[3.0, 4.0]"
    assert _format_tensor(np.arange(20.0)).startswith("(20,): mean 9.500")
    assert _format_tensor(np.array([[1.0], [-2.0]]), precision=1) == "[1.0, -2.0]ᵀ"
    with pytest.raises(ValueError, match="precision"):
        _format_tensor(1.0, precision=-1)
    with pytest.raises(ValueError, match="max_entries"):
        _format_tensor(1.0, max_entries=0)
    with pytest.raises(TypeError, match="tensor"):
        _format_tensor(object())


def test_bad_input():
    w, z = _chain()
    with pytest.raises(TypeError, match="output must be a torch.Tensor"):
        autograd_graph(np.array(1.0))
    with pytest.raises(ValueError, match="no grad_fn"):
        autograd_graph(w)
    with torch.no_grad():
        plain = w * 2
    with pytest.raises(ValueError, match="no grad_fn"):
        autograd_graph(plain)
    with pytest.raises(TypeError, match="params must be a dict"):
        autograd_graph(z, [w])
    with pytest.raises(TypeError, match=r"params\['w'\] must be a torch.Tensor"):
        autograd_graph(z, {"w": 2.0})
    with pytest.raises(TypeError, match="keys must be str"):
        autograd_graph(z, {1: w})
    with pytest.raises(ValueError, match="precision"):
        autograd_graph(z, precision=-2)


def test_missing_dot_gives_install_hint(monkeypatch):
    w, z = _chain()
    monkeypatch.setattr(graphs.shutil, "which", lambda name: None)
    with pytest.raises(graphs.DotNotFoundError, match="apt-get install graphviz"):
        torchgraph.autograd_graph(z, {"w": w})
