"""MNIST for the tutorials: find it, download it safely, read it, split it.

The tutorials use the split of the original ``mnist.pkl.gz``: the first 50,000
training images for training, the last 10,000 for validation, and the 10,000
``t10k`` images for testing, with pixels scaled as ``value / 256`` (float32) and
integer labels.

Accepted sources (``dataset`` argument):

* ``None``: the IDX files in the data folder (``default_data_dir()``: ``$DEEPTUTORIAL_DATA``,
  else ``deeptutorial/mnist`` in the user's cache folder), downloaded there first if missing;
* ``"sample"``: the small real MNIST sample shipped inside the package (``mnist_sample``);
* a folder holding the four IDX files (gzipped or not);
* the tutorial's pickle ``mnist.pkl.gz`` (loaded without running code).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pickle
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from deeptutorial.results import write_atomically

SAMPLE_DIR = Path(__file__).resolve().parent / "mnist_sample"
DATA_ENV = "DEEPTUTORIAL_DATA"

# Names of the four IDX files, and the sha256 of their *uncompressed* bytes: a
# mirror may recompress the .gz, but the IDX content of MNIST never changes.
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte",
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train_labels": ("train-labels-idx1-ubyte",
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "test_images": ("t10k-images-idx3-ubyte",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "test_labels": ("t10k-labels-idx1-ubyte",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

# Public mirrors of the original files, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# The tutorial keeps the last 10,000 of 60,000 training images for validation;
# a smaller folder (the bundled sample) keeps the same sixth.
VALID_FRACTION = 6

# The splits' names in messages, in the order load_mnist returns them; the digits' classes.
SPLITS = ("training", "validation", "test")
N_CLASSES = 10

Split = tuple[np.ndarray, np.ndarray]


class DataError(ValueError):
    """A file could not be found, fetched or read; the message names the file, what was
    expected and what was found."""


_MAGIC = ((b"\x1f\x8b", "a gzip file"), (b"PK\x03\x04", "a zip (or .npz) file"),
          (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"%PDF", "a PDF"),
          (b"\x93NUMPY", "a .npy file"), (b"\x80", "a pickle"), (b"\x00\x00\x08", "an IDX file"))


def describe_kind(head: bytes) -> str:
    """What a file that starts with ``head`` looks like, for error messages."""
    if not head:
        return "an empty file"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "a text file"
    return f"a file starting with bytes {head[:4].hex(' ')}"


def default_data_dir() -> Path:
    """Where full MNIST is looked for and downloaded to: the folder ``$DEEPTUTORIAL_DATA``
    names, else ``deeptutorial/mnist`` in the user's cache folder (``$XDG_CACHE_HOME``,
    by default ``~/.cache``)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "deeptutorial" / "mnist"


# --------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: str | os.PathLike, expected_sha256: str | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a uint8 array, checking its structure.

    With ``expected_sha256``, the uncompressed bytes must also hash to it.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if expected_sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            raise DataError(f"{path}: sha256 of the content is {digest}, expected {expected_sha256}")
    return _parse_idx(raw, path)


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number); found "
                        f"{describe_kind(raw[:8])}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)  # exact: a corrupt header may promise 2**96 bytes
    if len(raw) != expected:
        raise DataError(f"{path}: IDX header promises shape {shape} ({expected} bytes), "
                        f"file holds {len(raw)} bytes (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: Path, name: str) -> Path:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder}: missing {name}.gz (or {name})")


def _scale(images: np.ndarray) -> np.ndarray:
    return (images.reshape(len(images), -1).astype(np.float32) / np.float32(256.0))


def load_idx_folder(folder: str | os.PathLike, verify: bool = False) -> list[Split]:
    """Read the four IDX files of ``folder`` and split them as the tutorial does."""
    folder = Path(folder)
    arrays = {}
    for key, (name, digest) in MNIST_FILES.items():
        arrays[key] = read_idx(_find_idx(folder, name), digest if verify else None)
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {part} images {images.shape} and labels {labels.shape} "
                            f"do not match (expected N x rows x cols and N)")
    train_x, train_y = _scale(arrays["train_images"]), arrays["train_labels"].astype(np.int32)
    n_valid = len(train_x) // VALID_FRACTION
    n_train = len(train_x) - n_valid
    return [
        (train_x[:n_train], train_y[:n_train]),
        (train_x[n_train:], train_y[n_train:]),
        (_scale(arrays["test_images"]), arrays["test_labels"].astype(np.int32)),
    ]


# --------------------------------------------------------------------------- the pickle

class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Admits only what ``mnist.pkl.gz`` holds: NumPy arrays and dtypes in tuples/lists.

    ``pickle.load`` would call any global a crafted file names; this refuses all but
    the few NumPy reconstructors, so loading a downloaded pickle never runs code.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 pickles (protocol 2) spell bytes
        ("__builtin__", "bytes"),  # ... and the empty bytes of an empty array
        ("builtins", "bytes"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise DataError(f"refusing to load {module}.{name}: the file holds more than "
                            f"NumPy arrays (not the tutorial's mnist.pkl.gz?)")
        if module.startswith("numpy") and name == "_reconstruct":
            return np.ndarray.__reduce__(np.empty(0))[0]  # this NumPy's own reconstructor
        return super().find_class(module, name)


def load_pickle(path: str | os.PathLike) -> list[Split]:
    """Load the tutorial's ``mnist.pkl.gz`` safely (see ``_ArraysOnlyUnpickler``)."""
    path = Path(path)
    head = path.read_bytes()[:8]
    gzipped = head[:2] == b"\x1f\x8b"
    inner = head
    if gzipped:
        try:
            with gzip.open(path, "rb") as f:
                inner = f.read(8)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: a damaged gzip file ({exc})") from None
    if not inner.startswith(b"\x80"):
        found = describe_kind(inner) + (" inside gzip" if gzipped else "")
        raise DataError(f"{path}: not the tutorial's mnist.pkl.gz (a pickle, gzipped or not); "
                        f"found {found}")
    try:
        raw = path.read_bytes()
        if gzipped:  # decompress it whole: a cut gzip trailer is found too
            raw = gzip.decompress(raw)
        data = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, zlib.error,
            IndexError, KeyError, AttributeError, MemoryError) as exc:
        raise DataError(f"{path}: a damaged or truncated pickle ({type(exc).__name__}: "
                        f"{exc})") from None
    try:
        splits = [(np.asarray(x, dtype=np.float32), np.asarray(y)) for x, y in data]
        if len(splits) != 3 or any(x.ndim != 2 or np.ndim(y) != 1 or len(x) != len(y)
                                   for x, y in splits):
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected ((train_x, train_y), (valid_x, valid_y), "
                        f"(test_x, test_y)) with 2-D x and matching labels") from None
    for name, (_, y) in zip(SPLITS, splits):
        whole = y.dtype.kind in "iu" or (y.dtype.kind == "f" and bool(np.all(np.isfinite(y)))
                                         and bool(np.all(y == np.round(y))))
        if not whole:
            raise DataError(f"{path}: the {name} split's labels must be whole numbers, found "
                            f"{y.dtype} values such as {y[:3].tolist()}")
    return [(x, y.astype(np.int32)) for x, y in splits]


# --------------------------------------------------------------------------- checks

def check_contents(splits: list[Split], source: str) -> None:
    """What every model asks of the data, checked once on the whole of each split when it is
    loaded: finite pixels in [0, 1] (the scale of ``value / 256``), and one image size
    throughout. ``source`` names the file or folder in the ``DataError``."""
    width = first = None
    for name, (x, _) in zip(SPLITS, splits):
        where = f"{source}: the {name} split"
        if x.size:
            finite = np.isfinite(x)
            if not finite.all():
                row = int(np.argmin(finite.all(axis=1)))
                raise DataError(f"{where}: image {row} has a pixel that is NaN or infinite; "
                                f"expected pixels in [0, 1]")
            low, high = float(x.min()), float(x.max())
            if low < 0 or high > 1:
                hint = ""
                if low >= 0 and high <= 255 and np.array_equal(x, np.round(x)):
                    hint = (" (bytes 0..255: divide them by 256, the scale of the "
                            "tutorial's data)")
                raise DataError(f"{where}: pixels must lie in [0, 1], found values from "
                                f"{low:g} to {high:g}{hint}")
        if width is None:
            width, first = x.shape[1], name
        elif x.shape[1] != width:
            raise DataError(f"{where} has images of {x.shape[1]} pixels, the {first} split "
                            f"of {width}: every split must hold images of one size")


def check_splits(splits: list[Split], source: str, uses: tuple[str, ...] = SPLITS,
                 batched: tuple[str, ...] = ("training",), batch_size: int | None = None,
                 n_classes: int | None = None, side: int | None = None) -> None:
    """What one run asks of the data, checked before anything compiles: each split it
    ``uses`` holds an image, each it reads in minibatches (``batched``) a whole minibatch of
    ``batch_size``, labels lie in ``[0, n_classes)`` where it reads them, images are square
    (the scripts draw them), and ``side x side`` where a model was built for that size."""
    for name, (x, y) in zip(SPLITS, splits):
        if name not in uses:
            continue
        need = batch_size if batch_size and name in batched else 1
        if len(x) < need:
            held = "is empty" if len(x) == 0 else f"holds {len(x)} images"
            minibatch = f" (one minibatch of {batch_size})" if need > 1 else ""
            raise DataError(f"{source}: the {name} split {held}; this run needs at least "
                            f"{need}{minibatch}")
        if n_classes is not None:
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= n_classes:
                raise DataError(f"{source}: the {name} split has labels from {low} to {high}; "
                                f"expected classes 0 to {n_classes - 1}")
    width = splits[0][0].shape[1]
    rows = math.isqrt(width)
    if rows * rows != width:
        raise DataError(f"{source}: images of {width} pixels are not square; the scripts draw "
                        f"square images (MNIST's are 784 = 28 x 28)")
    if side is not None and rows != side:
        raise DataError(f"{source}: images are {rows} x {rows} pixels; this model is built for "
                        f"{side} x {side}")


# --------------------------------------------------------------------------- download

Opener = Callable[..., "io.BufferedIOBase"]


def download_mnist(dest: str | os.PathLike, mirrors: tuple[str, ...] = MIRRORS,
                   opener: Opener = urllib.request.urlopen, retries: int = 3,
                   timeout: float = 30.0) -> Path:
    """Fetch the four IDX files into ``dest``, each checked and written atomically.

    A file already present is kept when its content hash is right and replaced
    otherwise (partial or corrupt). Each mirror is tried ``retries`` times.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, digest in MNIST_FILES.values():
        target = dest / f"{name}.gz"
        if target.is_file():
            try:
                read_idx(target, digest)
                continue
            except DataError:
                pass  # partial or corrupt: fetch it again
        payload = _fetch_verified(f"{name}.gz", digest, mirrors, opener, retries, timeout)
        write_atomically(target, payload)
    return dest


def _fetch_verified(filename: str, digest: str, mirrors: tuple[str, ...], opener: Opener,
                    retries: int, timeout: float) -> bytes:
    failures = {}  # mirror URL -> its last error: each mirror is named once
    for mirror in mirrors:
        url = mirror + filename
        for attempt in range(retries):
            try:
                with opener(url, timeout=timeout) as response:
                    payload = response.read()
                content = gzip.decompress(payload)
            except (OSError, EOFError, urllib.error.URLError) as exc:
                failures[url] = str(exc)
                time.sleep(min(2 ** attempt, 4) * 0.1)
                continue
            got = hashlib.sha256(content).hexdigest()
            if got != digest:
                failures[url] = f"sha256 {got}, expected {digest}"
                break  # this mirror serves wrong content: do not retry it
            return payload
    raise DataError(f"could not download {filename}: "
                    + "; ".join(f"{url}: {why}" for url, why in failures.items()))


# --------------------------------------------------------------------------- entry points

def load_mnist(dataset: str | os.PathLike | None = None, download: bool = True) -> list[Split]:
    """The tutorial's three splits as NumPy arrays: ``[(x, y), (x, y), (x, y)]``.

    ``x`` is float32 in [0, 1) with one image per row, ``y`` int32 labels.
    """
    if dataset is None:
        folder = default_data_dir()
        if not all(any((folder / f"{n}{ext}").is_file() for ext in (".gz", ""))
                   for n, _ in MNIST_FILES.values()):
            if not download:
                raise DataError(_missing_message(folder, "downloading is turned off"))
            try:
                download_mnist(folder)
            except DataError as exc:
                raise DataError(_missing_message(folder, str(exc))) from None
        splits = load_idx_folder(folder, verify=True)
    elif str(dataset) == "sample":
        splits = load_idx_folder(SAMPLE_DIR)
    elif Path(dataset).is_dir():
        splits = load_idx_folder(dataset)
    elif Path(dataset).is_file():
        splits = load_pickle(dataset)
    else:
        raise DataError(f"dataset not found: {dataset} (expected a folder of MNIST IDX files, "
                        f"an mnist.pkl.gz, 'sample', or nothing to use {default_data_dir()}, "
                        f"which ${DATA_ENV} sets)")
    check_contents(splits, describe_source(dataset))
    return splits


def describe_source(dataset: str | os.PathLike | None) -> str:
    """How messages name a ``dataset`` argument: its path, or what it stands for."""
    if dataset is None:
        return str(default_data_dir())
    return "the bundled sample" if str(dataset) == "sample" else str(dataset)


def _missing_message(folder: Path, reason: str) -> str:
    names = ", ".join(f"{n}.gz" for n, _ in MNIST_FILES.values())
    return (f"MNIST is not in {folder} and could not be downloaded ({reason}). "
            f"Put {names} there, or pass --dataset FOLDER (or --dataset sample for the bundled sample).")


def load_data(dataset: str | os.PathLike | None = None, download: bool = True) -> list:
    """The tutorial's ``load_data``: the three splits as PyTensor shared variables.

    Returns ``[(train_set_x, train_set_y), (valid_set_x, valid_set_y),
    (test_set_x, test_set_y)]``; each ``x`` is a shared floatX matrix (one image per
    row), each ``y`` a shared int32 vector, so both can be sliced in ``givens``.
    """
    return as_shared(load_mnist(dataset, download=download))


def as_shared(splits: list[Split]) -> list:
    """Each split's images as a shared floatX matrix and its labels as a shared int32
    vector, as ``load_data`` returns them (on the JAX device when the backend is JAX:
    ``backends.on_device``)."""
    import pytensor

    from deeptutorial.backends import on_device

    return [(on_device(pytensor.shared(np.asarray(x, dtype=pytensor.config.floatX), borrow=True)),
             on_device(pytensor.shared(np.asarray(y, dtype=np.int32), borrow=True)))
            for x, y in splits]


def minibatch(data, index, batch_size: int, backend: str | None = None):
    """Rows ``index * batch_size`` up to ``(index + 1) * batch_size`` of the shared array
    ``data`` (for ``givens``), with the batch size as a static shape.

    Compiled with ``pytensor.function(..., rebuild_strict=False)``, the static shape reaches
    every node. At batch size 1 PyTensor then computes the products as matrix-vector BLAS
    calls (gemv, ger), where a matrix product of one row is several times slower (the SdA
    tutorial's default). An index past the end raises instead of giving an empty minibatch.

    On the C ``backend`` (None: the current one, ``backends.current()``) the rows are a slice,
    as in the tutorial: a view, no copy. JAX cannot compile a slice whose start is symbolic,
    so every other backend gathers the rows ``index * batch_size + arange(batch_size)``: the
    same rows, a static number of them.
    """
    import pytensor.tensor as pt

    from deeptutorial import backends

    if (backend or backends.current()) == "c":
        rows = data[index * batch_size:(index + 1) * batch_size]
    else:
        rows = data[index * batch_size + pt.arange(batch_size)]
    return pt.specify_shape(rows, (batch_size,) + (None,) * (data.ndim - 1))
