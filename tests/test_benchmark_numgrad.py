"""Smoke tests of benchmarks/numgrad_vs_backprop.py at tiny sizes (seconds, not minutes)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "numgrad_vs_backprop.py"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("numgrad_vs_backprop")


def test_param_count_matches_the_layers(bench):
    assert bench.param_count(3) == (2 * 3 + 3) + (3 * 3 + 3) + (3 + 1) == 25
    assert [bench.param_count(w) for w in bench.DEFAULT_WIDTHS][0] < 20
    assert 9000 < bench.param_count(bench.DEFAULT_WIDTHS[-1]) < 11000
    with pytest.raises(ValueError, match="width"):
        bench.param_count(0)


def test_dataset_is_chapter_03s(bench):
    X, y = bench.dataset()
    assert tuple(X.shape) == (100, 2) and tuple(y.shape) == (100,)
    assert np.allclose(X[0].numpy(), [-0.78259874, 0.9052087])
    assert int(y.sum()) == 45
    assert y[0] == 1 and y[1] == 0
    with pytest.raises(ValueError, match="m must be a positive int"):
        bench.dataset(m=0)


def test_numerical_and_autograd_gradients_agree(bench):
    X, y = bench.dataset()
    theta = bench.init_params(3, seed=1)
    before = theta.copy()
    num = bench.numerical_grad(theta, X, y, 3)
    auto = bench.autograd_grad(theta, X, y, 3)
    assert num.shape == auto.shape == (25,)
    assert np.array_equal(theta, before), "numerical_grad must restore the parameters"
    assert np.abs(num - auto).max() < 1e-7 * max(1.0, np.abs(auto).max())
    assert np.abs(auto).max() > 1e-3  # a real gradient, not zeros


def test_mlp_loss_rejects_wrong_theta(bench):
    X, y = bench.dataset()
    with pytest.raises(ValueError, match=r"theta must have shape \(25,\)"):
        bench.mlp_loss(torch.zeros(24, dtype=torch.float64), X, y, 3)


def test_loglog_slope(bench):
    P = np.array([10.0, 100.0, 1000.0])
    assert bench.loglog_slope(P, 3e-6 * P) == pytest.approx(1.0)
    assert bench.loglog_slope(P, 2e-4 * P**0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        bench.loglog_slope([10.0], [1.0])
    with pytest.raises(ValueError):
        bench.loglog_slope([10.0, 0.0], [1.0, 2.0])


def test_median_seconds(bench):
    calls = []
    t = bench.median_seconds(lambda: calls.append(1), repeats=3)
    assert len(calls) == 4 and t >= 0.0  # one warm-up + three timed
    with pytest.raises(ValueError, match="repeats"):
        bench.median_seconds(lambda: None, repeats=0)


def test_run_and_table_have_the_right_columns(bench):
    rows = bench.run([1, 2], repeats=1)
    assert [r["P"] for r in rows] == [7, 15]
    for r in rows:
        assert tuple(r) == bench.COLUMNS
        assert r["numgrad_s"] > 0 and r["backprop_s"] > 0
        assert r["ratio"] == pytest.approx(r["numgrad_s"] / r["backprop_s"])
    table = bench.format_table(rows).splitlines()
    assert table[0].split() == list(bench.COLUMNS)
    assert set(table[1].replace(" ", "")) == {"-"}
    assert len(table) == 4 and table[3].split()[0] == "15"
    assert table[3].split()[3] == f"{rows[1]['ratio']:.0f}"
    assert float(table[3].split()[1]) == pytest.approx(rows[1]["numgrad_s"], rel=5e-3)


def test_cli_help():
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "--widths" in out.stdout and "--repeats" in out.stdout


def test_main_prints_table_and_slopes(bench, capsys):
    threads = torch.get_num_threads()
    assert bench.main(["--widths", "1", "2", "--repeats", "1"]) == 0
    assert torch.get_num_threads() == threads          # the thread setting is restored
    out = capsys.readouterr().out
    assert "numgrad_s" in out and "log-log slope: numerical" in out
    with pytest.raises(SystemExit):
        bench.main(["--widths", "3"])
    assert "two sizes" in capsys.readouterr().err
