import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import plots

X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
y = np.array([0, 1, 1, 1])


def test_decision_regions_with_numpy_labels():
    fig = plots.decision_regions(lambda P: (P.sum(axis=1) > 0.5).astype(int), X, y, title="OR", highlight=0)
    ax = fig.axes[0]
    assert ax.get_title() == "OR" and ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2"
    plt.close(fig)


def test_decision_regions_with_torch_module_probabilities():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid()).double()
    fig = plots.decision_regions(model, X, y)
    assert len(fig.axes) == 2          # the probability colour bar
    plt.close(fig)


def test_predict_grid_handles_scores_and_tensors():
    scores = lambda P: torch.tensor(np.c_[P[:, 0], P[:, 1]])  # (n, 2) -> argmax class
    out = plots.predict_grid(scores, X)
    assert out.tolist() == [0.0, 0.0, 1.0, 0.0]
    row = lambda P: (P[:, 0] > 0.5).astype(float).reshape(1, -1)   # (1, n): examples as columns
    assert plots.predict_grid(row, X).tolist() == [0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="one value per point"):
        plots.predict_grid(lambda P: np.zeros(3), X)


@pytest.mark.parametrize("bad_X, message", [
    (X.T, r"shape \(n, 2\).*pass X.T"),
    (np.zeros((4, 3)), r"shape \(n, 2\)"),
])
def test_decision_regions_rejects_bad_shapes(bad_X, message):
    with pytest.raises(ValueError, match=message):
        plots.decision_regions(lambda P: P[:, 0], bad_X)


def test_decision_regions_rejects_bad_labels_and_predict():
    with pytest.raises(ValueError, match=r"y must have shape \(4,\) \(one label per row of X\), got \(3,\)"):
        plots.decision_regions(lambda P: P[:, 0], X, y[:3])
    with pytest.raises(TypeError, match="callable"):
        plots.decision_regions("model", X, y)
    with pytest.raises(ValueError, match="resolution"):
        plots.decision_regions(lambda P: P[:, 0], X, y, resolution=2)


def test_loss_curves():
    fig = plots.loss_curves({"train": [3, 2, 1], "test": np.array([3.5, 2.5])}, logy=True, title="손실")
    ax = fig.axes[0]
    assert ax.get_title() == "손실" and ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 2 and ax.get_legend() is not None
    plt.close(fig)
    with pytest.raises(TypeError):
        plots.loss_curves([1, 2])
    with pytest.raises(ValueError, match="empty"):
        plots.loss_curves({"a": []})
