"""Smoke tests of benchmarks/mlp_fashion_mnist.py on tiny random data (seconds, not minutes).

The full benchmark (60,000 Fashion-MNIST images) is not part of the test suite.
"""

import numpy as np
import pytest
import torch
from conftest import load_benchmark



@pytest.fixture(scope="module")
def bench():
    return load_benchmark("mlp_fashion_mnist")


def tiny_images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    return X, y


def separable_images(n=200, seed=0):
    """Class 0: dark left half; class 1: dark right half — learnable in one epoch."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n).astype(np.int64)
    X = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
    X[y == 0, :, :14] += 180
    X[y == 1, :, 14:] += 180
    return X, y


def test_to_inputs_matches_totensor_normalize_bit_for_bit(bench):
    X, y = tiny_images(10)
    loader = bench.seed_recipe_loader(X, y, batch_size=10, seed=0)
    ds = loader.dataset
    flat = bench.to_inputs(X)
    assert flat.shape == (10, 784) and flat.dtype == torch.float32
    for i in range(10):
        img, label = ds[i]
        assert img.shape == (1, 28, 28)
        assert torch.equal(img.reshape(-1), flat[i])
        assert label == int(y[i])
    assert flat.min().item() >= -1.0 and flat.max().item() <= 1.0


def test_seed_recipe_loader_batches_and_is_seeded(bench):
    X, y = tiny_images(70)
    xb, yb = next(iter(bench.seed_recipe_loader(X, y, batch_size=64, seed=3)))
    assert xb.shape == (64, 1, 28, 28) and yb.shape == (64,) and yb.dtype == torch.int64
    a = [b[1].tolist() for b in bench.seed_recipe_loader(X, y, seed=5)]
    b = [b[1].tolist() for b in bench.seed_recipe_loader(X, y, seed=5)]
    assert a == b and [len(v) for v in a] == [64, 6]
    with pytest.raises(ValueError, match="batch_size"):
        bench.seed_recipe_loader(X, y, batch_size=0)


def test_bad_images_and_labels_are_rejected(bench):
    X, y = tiny_images(5)
    with pytest.raises(TypeError, match=r"images must be uint8 of shape \(n, 28, 28\), got dtype float32"):
        bench.to_inputs(X.astype(np.float32))
    with pytest.raises(ValueError, match=r"images must have shape \(n, 28, 28\), got \(5, 784\)"):
        bench.seed_recipe_loader(X.reshape(5, 784), y)
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\) \(one label per image\), got \(4,\)"):
        bench.seed_recipe_loader(X, y[:4])


def test_the_seed_recipe_uses_course_utils_image_dataset(bench):
    from course_utils.data import ImageDataset

    X, y = tiny_images(5)
    ds = bench.seed_recipe_loader(X, y).dataset
    assert type(ds) is ImageDataset and ds.data is X


def test_make_mlp_is_784_512_10(bench):
    m = bench.make_mlp()
    assert sum(p.numel() for p in m.parameters()) == 784 * 512 + 512 + 512 * 10 + 10 == 407_050
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert m(torch.zeros(3, 784)).shape == (3, 10)
    with pytest.raises(ValueError, match="sizes"):
        bench.make_mlp([784])
    with pytest.raises(ValueError, match="sizes"):
        bench.make_mlp([784, 0, 10])


@pytest.mark.parametrize("bf16", [False, True])
def test_in_memory_epoch_learns_separable_data(bench, bf16):
    X, y = separable_images(200)
    Xt, yt = bench.to_inputs(X), torch.from_numpy(y)
    torch.manual_seed(0)
    m = bench.make_mlp((784, 16, 2))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    before = bench.evaluate(m, Xt, yt)
    losses = [bench.train_epoch_tensors(m, opt, Xt, yt, batch_size=32, generator=torch.Generator().manual_seed(0),
                                        bf16=bf16) for _ in range(3)]
    assert losses[-1] < losses[0]
    assert bench.evaluate(m, Xt, yt) >= 0.95 > before or bench.evaluate(m, Xt, yt) == 1.0
    assert all(p.dtype == torch.float32 for p in m.parameters())  # master weights stay fp32


def test_loader_batch_and_tensor_batch_give_the_same_step(bench):
    """Same images, same arithmetic: one SGD step from a DataLoader batch equals one from the tensors."""
    X, y = separable_images(32)
    ds = bench.seed_recipe_loader(X, y, batch_size=16, seed=7).dataset
    xb = torch.stack([ds[i][0] for i in range(16)])
    yb = torch.tensor([ds[i][1] for i in range(16)])
    torch.manual_seed(0)
    m1 = bench.make_mlp((784, 8, 2))
    m2 = bench.make_mlp((784, 8, 2))
    m2.load_state_dict(m1.state_dict())
    o1 = torch.optim.SGD(m1.parameters(), lr=0.01)
    o2 = torch.optim.SGD(m2.parameters(), lr=0.01)
    l1 = bench.train_epoch_loader(m1, o1, [(xb, yb)])
    Xt = bench.to_inputs(X)[:16]
    l2 = bench.train_epoch_tensors(m2, o2, Xt, torch.from_numpy(y[:16]), batch_size=16)
    assert l1 == pytest.approx(l2, abs=1e-6)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.allclose(p1, p2, atol=1e-7)


def test_make_adam_updates_like_plain_adam(bench):
    torch.manual_seed(0)
    m1 = bench.make_mlp((784, 8, 3))
    m2 = bench.make_mlp((784, 8, 3))
    m2.load_state_dict(m1.state_dict())
    o1 = bench.make_adam(m1.parameters(), 1e-2)
    o2 = torch.optim.Adam(m2.parameters(), lr=1e-2, foreach=False)
    X, y = torch.randn(16, 784), torch.randint(0, 3, (16,))
    for _ in range(3):
        for m, o in ((m1, o1), (m2, o2)):
            loss = torch.nn.functional.cross_entropy(m(X), y)
            o.zero_grad()
            loss.backward()
            o.step()
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.allclose(p1, p2, atol=1e-5)


def test_train_epoch_tensors_rejects_bad_shapes(bench):
    m = bench.make_mlp((784, 4, 2))
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"X must have shape \(n, …\) \(examples, features\), got \(4, 28, 28\)"):
        bench.train_epoch_tensors(m, opt, torch.zeros(4, 28, 28), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size"):
        bench.train_epoch_tensors(m, opt, torch.zeros(4, 784), torch.zeros(4, dtype=torch.long), batch_size=0)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\), got \(3,\)"):
        bench.evaluate(m, torch.zeros(4, 784), torch.zeros(3, dtype=torch.long))


def test_epoch_flops_by_hand(bench):
    # sizes 2-3-1, one sample: forward 2*(6+3), weight grads 2*(6+3), input grad of layer 2 only 2*3
    assert bench.epoch_flops(1, (2, 3, 1)) == 18 + 18 + 6 == 42
    macs = 784 * 512 + 512 * 10
    assert bench.epoch_flops(60000) == 60000 * (4 * macs + 2 * 512 * 10)
    assert 9.7e10 < bench.epoch_flops(60000) < 9.9e10
    with pytest.raises(ValueError, match="n_samples"):
        bench.epoch_flops(-1)
    with pytest.raises(ValueError, match="sizes"):
        bench.epoch_flops(10, (784,))


def test_matmul_gflops_is_a_positive_rate(bench):
    rate = bench.matmul_gflops(64, repeats=2)
    assert np.isfinite(rate) and rate > 0
    with pytest.raises(ValueError, match="n must be"):
        bench.matmul_gflops(2)
    with pytest.raises(ValueError, match="repeats"):
        bench.matmul_gflops(64, repeats=0)


def test_main_runs_end_to_end_on_tiny_data(bench, monkeypatch, capsys):
    from course_utils import data

    Xtr, ytr = separable_images(300, seed=1)
    Xte, yte = separable_images(100, seed=2)
    fake = data.ImageData(Xtr, ytr, Xte, yte, source="fashion-mnist", description="tiny test data")
    monkeypatch.setattr(data, "load_fashion_mnist", lambda *a, **k: fake)
    assert bench.main(["--epochs", "2", "--batch-size", "64", "--matmul-n", "64", "--threads", "1", "--seed-accuracy"]) == 0
    out = capsys.readouterr().out
    assert "seed: DataLoader per image, batch 64, fp32" in out
    assert "in-memory tensors, batch 64, fp32" in out and "s/epoch" in out and "of peak" in out
    assert "GFLOP" in out and "faster per epoch than the seed recipe" in out
    assert "epoch  2:" in out and "test accuracy" in out
