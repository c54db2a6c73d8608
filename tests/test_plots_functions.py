"""Tests for course_utils.plots.function_grid (chapter 02's activation-function grid)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils.plots import function_grid  # noqa: E402


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    s = sigmoid(x)
    return s * (1 - s)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_returns_figure_with_one_titled_axes_per_function():
    fig = function_grid({"sigmoid": sigmoid, "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
                         "relu": lambda x: np.maximum(0, x), "square": np.square},
                        ncols=3, title="grid")
    assert isinstance(fig, matplotlib.figure.Figure)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["sigmoid", "tanh", "relu", "square"]
    assert len(fig.axes) == 6  # a 2 x 3 grid, two cells hidden
    for ax in axes:
        assert ax.get_xlabel() == "x" and ax.get_ylabel() == "f(x)"
        assert ax.get_legend() is not None
    assert fig._suptitle is not None and fig._suptitle.get_text() == "grid"


def test_analytic_derivative_is_drawn_as_given():
    x = np.linspace(-3, 3, 61)
    fig = function_grid({"sigmoid": (sigmoid, sigmoid_grad)}, x)
    ax = visible_axes(fig)[0]
    f_line, df_line = ax.get_lines()[:2]
    np.testing.assert_allclose(f_line.get_xdata(), x)
    np.testing.assert_allclose(f_line.get_ydata(), sigmoid(x))
    np.testing.assert_allclose(df_line.get_ydata(), sigmoid_grad(x))
    assert df_line.get_label() == "f'(x)"


def test_numerical_derivative_when_none_is_given():
    x = np.linspace(-2, 2, 41)
    fig = function_grid({"cube": lambda t: t ** 3, "sigmoid": (sigmoid, None)}, x)
    cube_ax, sig_ax = visible_axes(fig)
    df_line = cube_ax.get_lines()[1]
    np.testing.assert_allclose(df_line.get_ydata(), 3 * x ** 2, atol=1e-6)
    assert "central difference" in df_line.get_label()
    np.testing.assert_allclose(sig_ax.get_lines()[1].get_ydata(), sigmoid_grad(x), atol=1e-8)


def test_derivatives_false_draws_functions_only():
    fig = function_grid({"relu": lambda x: np.maximum(0, x)}, derivatives=False)
    lines = [ln for ln in visible_axes(fig)[0].get_lines() if ln.get_label() in ("f(x)", "f'(x)")]
    assert [ln.get_label() for ln in lines] == ["f(x)"]
    assert len(lines[0].get_xdata()) == 401  # default grid


def test_constant_and_torch_outputs_are_accepted():
    torch = pytest.importorskip("torch")
    fig = function_grid({"one": (np.ones_like, np.zeros_like),
                         "torch relu": lambda x: torch.relu(torch.as_tensor(x))}, np.linspace(-1, 1, 5))
    one_ax, relu_ax = visible_axes(fig)
    assert one_ax.get_lines()[0].get_ydata().tolist() == [1.0] * 5
    np.testing.assert_allclose(relu_ax.get_lines()[0].get_ydata(), [0, 0, 0, 0.5, 1])


def test_ncols_larger_than_count_gives_one_row():
    fig = function_grid({"a": np.sin, "b": np.cos}, ncols=5)
    assert len(fig.axes) == 2


@pytest.mark.parametrize(
    "functions, exc, words",
    [
        ([np.sin], TypeError, "functions must be a dict"),
        ({}, ValueError, "at least one"),
        ({1: np.sin}, TypeError, "keys must be str"),
        ({"s": 3}, TypeError, "f must be callable"),
        ({"s": (np.sin, "cos")}, TypeError, "df must be callable"),
        ({"s": (np.sin, np.cos, np.tan)}, ValueError, "pair (f, df)"),
        ({"sum": np.sum}, ValueError, "must return shape (401,)"),
        ({"const": lambda x: 1.0}, ValueError, "got ()"),
        ({"bad": lambda x: x["key"]}, ValueError, "functions['bad']: f failed"),
        ({"s": (np.sin, lambda x: np.zeros(3))}, ValueError, "df must return shape"),
    ],
)
def test_bad_functions_are_named(functions, exc, words):
    with pytest.raises(exc) as info:
        function_grid(functions)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(x=np.zeros((3, 2))), ValueError, "shape (n,)"),
        (dict(x=[1.0]), ValueError, "n >= 2"),
        (dict(x=[0.0, np.nan, 1.0]), ValueError, "finite"),
        (dict(x=[2.0, 1.0, 0.0]), ValueError, "strictly increasing"),
        (dict(x=["a", "b"]), TypeError, "x must be a 1-D array of numbers"),
        (dict(ncols=0), ValueError, "ncols must be a positive int"),
        (dict(ncols=2.5), TypeError, "ncols must be a positive int, got float: 2.5"),
        (dict(derivatives="yes"), TypeError, "derivatives must be True or False"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, words):
    with pytest.raises(exc) as info:
        function_grid({"sin": np.sin}, **kwargs)
    assert words in str(info.value)


def test_network_diagram_weight_labels_sit_near_their_heads():
    """graphs.network_diagram: every weight label sits in the head-side half of its edge,
    so the labels of the XOR network's two crossing edges stay apart (chapter 01)."""
    import re

    import course_utils.graphs as graphs

    W1 = np.array([[-0.5, -0.5], [0.5, 0.5]])
    g = graphs.network_diagram([2, 2, 1], weights=[W1, np.array([[0.5, 0.5]])])
    edges = re.findall(r"(L\d_\d) -> (L\d_\d) \[([^\]]*)\]", g.source)
    assert len(edges) == 6
    pos = dict(re.findall(r'(L\d_\d) \[[^\]]*pos="([-\d.]+,[-\d.]+)!"', g.source))
    for tail, head, attrs in edges:
        (x0, y0), (x1, y1) = (map(float, pos[n].split(",")) for n in (tail, head))
        gap_pt = (np.hypot(x1 - x0, y1 - y0) - 0.85) * 72  # centre distance minus two radii
        dist = float(re.search(r'labeldistance="?([\d.]+)', attrs).group(1)) * 10
        assert 0.15 * gap_pt < dist < 0.45 * gap_pt, (tail, head, dist, gap_pt)
        assert "headlabel" in attrs
    # the crossing edges (x1 -> s2, x2 -> s1) carry their labels at the same distance from
    # different heads, i.e. on opposite sides of the crossing
    crossing = {(t, h): a for t, h, a in edges if (t, h) in {("L0_0", "L1_1"), ("L0_1", "L1_0")}}
    assert len(crossing) == 2
