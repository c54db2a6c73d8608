import os
import random
import sys

import numpy as np
import pytest
import torch

from course_utils import get_device, notebook_setup, progress, seed_everything, set_threads
from course_utils.repro import quiet_warnings


def test_seed_everything_reproduces_all_rngs():
    seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(124)
    c = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    assert all(x != y for x, y in zip(a, c))
    assert os.environ["PYTHONHASHSEED"] == "124"


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_seed_everything_rejects_non_int(bad):
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything(bad)


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_seed_everything_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=f"seed must be an int in 0 … 4294967295, got {bad}"):
        seed_everything(bad)


def test_get_device_defaults_to_an_available_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert get_device().type in ("cpu", "cuda", "mps")
    assert get_device("cpu").type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device().type == "cpu"


def test_get_device_errors_name_the_problem():
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'mps'"):
        get_device("tpu")
    with pytest.raises(TypeError):
        get_device(0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available here; this machine has: .*cpu"):
            get_device("cuda")


def test_quiet_warnings_silences_only_listed_warnings():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_warnings()
        warnings.warn("CUDA initialization: no driver", UserWarning)
        warnings.warn("something the learner should see", UserWarning)
    messages = [str(w.message) for w in caught]
    assert messages == ["something the learner should see"]


def test_progress_writes_a_stable_bar_to_stdout(capsys):
    total = 0
    for i in progress(range(5), desc="epochs"):
        total += i
    out = capsys.readouterr()
    assert total == 10
    assert "epochs: 100%" in out.out and "5/5" in out.out
    assert "it/s" not in out.out and out.err == ""


def test_notebook_setup_reports_and_configures():
    import graphviz
    import matplotlib

    info = notebook_setup(seed=5)
    assert info["seed"] == 5
    assert info["font"] is not None and info["font"] in matplotlib.rcParams["font.family"]
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    assert list(graphviz.Digraph()._repr_mimebundle_()) == ["image/png"]
    assert np.random.get_state()[1][0] == np.random.RandomState(5).get_state()[1][0]
    with pytest.raises(TypeError):
        notebook_setup(seed="x")


def test_set_threads_sets_torch_and_blas():
    from threadpoolctl import threadpool_info

    try:
        assert set_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    finally:
        set_threads(2)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError),
                                        (True, TypeError)])
def test_set_threads_rejects_bad_counts(bad, error):
    with pytest.raises(error, match="threads must be a positive int"):
        set_threads(bad)


def test_notebook_setup_fixes_the_thread_count():
    assert notebook_setup(seed=1)["torch_threads"] == 1
    assert notebook_setup(seed=1, threads=2)["torch_threads"] == 2
