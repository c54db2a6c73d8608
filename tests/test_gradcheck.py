import numpy as np
import pytest
import torch

from course_utils import gradcheck


def test_numerical_gradient_of_array_matches_calculus_and_restores():
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = W.copy()
    g = gradcheck.numerical_gradient(lambda p: float(np.sum(p ** 3)), W)
    assert np.allclose(g, 3 * before ** 2, rtol=1e-7)
    assert np.array_equal(W, before)


def test_numerical_gradient_of_dict_of_scalars_and_arrays():
    params = {"a": 2.0, "W": np.array([1.0, 2.0])}
    f = lambda p: p["a"] ** 2 + float(np.dot(p["W"], p["W"]))
    g = gradcheck.numerical_gradient(f, params)
    assert g["a"] == pytest.approx(4.0, rel=1e-8)
    assert np.allclose(g["W"], [2.0, 4.0])
    assert params["a"] == 2.0


def test_parameters_restored_when_f_raises():
    W = np.zeros(3)

    def f(p):
        if p[1] != 0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        gradcheck.numerical_gradient(f, W)
    assert np.array_equal(W, np.zeros(3))


@pytest.mark.parametrize("params, exc, message", [
    (np.array([1, 2]), TypeError, "float array"),
    ([1.0, 2.0], TypeError, "params must be"),
    ({"a": "x"}, TypeError, r"params\['a'\]"),
])
def test_numerical_gradient_bad_params(params, exc, message):
    with pytest.raises(exc, match=message):
        gradcheck.numerical_gradient(lambda p: 0.0, params)


def test_numerical_gradient_bad_f_and_h():
    with pytest.raises(TypeError, match="callable"):
        gradcheck.numerical_gradient(3, np.zeros(2))
    with pytest.raises(ValueError, match="positive"):
        gradcheck.numerical_gradient(lambda p: 0.0, np.zeros(2), h=0)
    with pytest.raises(TypeError, match="scalar"):
        gradcheck.numerical_gradient(lambda p: p, np.zeros(2))


def test_relative_error():
    assert gradcheck.relative_error(1.0, 1.0) == 0
    assert gradcheck.relative_error([0.0], [0.0]).tolist() == [0.0]
    assert gradcheck.relative_error(2.0, 1.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        gradcheck.relative_error([1, 2], [1])


def test_gradient_check_report_and_verdicts():
    analytic = {"w": np.array([1.0, 2.0, 3.0]), "b": torch.tensor(0.5)}
    numerical = {"w": np.array([1.0, 2.0 + 1e-6, 4.0]), "b": 0.5}
    report = gradcheck.gradient_check(analytic, numerical)
    assert list(report.columns) == ["parameter", "analytic", "numerical", "rel_error", "verdict"]
    assert report["parameter"].tolist() == ["w[0]", "w[1]", "w[2]", "b"]
    assert report["verdict"].tolist() == ["ok", "check", "wrong", "ok"]
    assert report.attrs["max_rel_error"] == pytest.approx(0.25)


def test_gradient_check_arrays_and_errors():
    report = gradcheck.gradient_check(np.ones((2, 2)), np.ones((2, 2)), names=("hand", "autograd"))
    assert "hand" in report.columns and report["verdict"].eq("ok").all()
    with pytest.raises(ValueError, match="same parameters"):
        gradcheck.gradient_check({"a": 1.0}, {"b": 1.0})
    with pytest.raises(ValueError, match="tolerance"):
        gradcheck.gradient_check(1.0, 1.0, tolerance=-1)
