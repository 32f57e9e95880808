"""Every file the project reads, fed corrupted versions of a real one: missing, empty,
truncated at many offsets, bytes flipped, another format under the right name. Each reader
either reads a still well-formed file or raises one ``DataError`` (a ``ValueError``) whose one
line names the file; nothing else escapes."""

import gzip
import pickle
import shutil

import numpy as np
import pytest

from deeptutorial import data
from deeptutorial.data import DataError
from deeptutorial.persistence import load_arrays, save_arrays, save_checkpoint

SAMPLE = data.SAMPLE_DIR


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """One real file of each kind the project reads."""
    folder = tmp_path_factory.mktemp("originals")
    idx_gz = (SAMPLE / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "labels.gz").write_bytes(idx_gz)
    (folder / "labels").write_bytes(gzip.decompress(idx_gz))
    splits = data.load_mnist("sample")
    small = tuple((x[:50], y[:50]) for x, y in splits)
    with gzip.open(folder / "mnist.pkl.gz", "wb") as f:
        pickle.dump(small, f, protocol=2)
    save_arrays(folder / "model.npz", {"W": np.arange(600, dtype="float32").reshape(20, 30),
                                       "b": np.zeros(30, dtype="float32")})
    import pytensor
    from pytensor.tensor.random import shared_rng

    W = pytensor.shared(np.ones((4, 3), dtype="float32"), name="W")
    save_checkpoint(folder / "checkpoint.npz", {"W": W}, [shared_rng(seed=1)],
                    {"settings": {"seed": 1}, "history": {"epoch_costs": [1.0, 0.5]}})
    return folder


READERS = {
    "labels.gz": lambda path: data.read_idx(path),
    "labels": lambda path: data.read_idx(path),
    "mnist.pkl.gz": lambda path: data.load_mnist(path),
    "model.npz": lambda path: load_arrays(path),
    "checkpoint.npz": lambda path: load_arrays(path),
}


FORMAT = {"labels.gz": "idx", "labels": "idx", "mnist.pkl.gz": "pickle", "model.npz": "npz",
          "checkpoint.npz": "npz"}


def offsets(n):
    return sorted({0, 1, 2, 3, 4, 7, 8, 15, 16, 30, 64, 100, n // 3, n // 2, n - 2, n - 1} - {n})


def variants(name, raw, others):
    yield "empty", b""
    for k in offsets(len(raw)):
        yield f"truncated at {k}", raw[:k]
    rng = np.random.RandomState(len(raw))
    for k in sorted(set(rng.randint(0, len(raw), 12)) | {0, 1, 2, 3, len(raw) - 1}):
        flipped = bytearray(raw)
        flipped[k] ^= 0xFF
        yield f"byte {k} flipped", bytes(flipped)
    for other, content in others.items():
        if other != name:
            yield f"{other} under this name", content
    yield "a PNG under this name", b"\x89PNG\r\n\x1a\n" + bytes(100)
    yield "a text file under this name", b"hello, world\n" * 10


def read_or_refuse(reader, path):
    """The reader's outcome: 'read' or the refusal's message; any other exception fails."""
    try:
        reader(path)
    except DataError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message, message
        return message
    return "read"


@pytest.mark.parametrize("name", sorted(READERS))
def test_each_reader_reads_or_refuses_in_one_line(tmp_path, originals, name):
    """(Broken by dropping zipfile.BadZipFile from load_arrays' caught errors, or the pickle
    check in load_pickle: a truncated .npz or a PNG given as mnist.pkl.gz escapes.)"""
    raw = (originals / name).read_bytes()
    others = {other: (originals / other).read_bytes() for other in READERS}
    reader = READERS[name]
    missing = tmp_path / "missing" / name
    assert read_or_refuse(reader, missing) != "read"
    outcomes = {}
    for case, content in variants(name, raw, others):
        path = tmp_path / name
        path.write_bytes(content)
        outcomes[case] = read_or_refuse(reader, path)
    assert outcomes["empty"] != "read"
    refused_truncations = [case for case, outcome in outcomes.items()
                           if case.startswith("truncated") and outcome != "read"]
    assert len(refused_truncations) == len(offsets(len(raw)))  # a cut file is never taken
    for other in READERS:
        if FORMAT[other] != FORMAT[name]:  # another format under this name is refused
            assert outcomes[f"{other} under this name"] != "read", other
    assert outcomes["a PNG under this name"] != "read"
    assert outcomes["a text file under this name"] != "read"


def test_a_folder_with_a_damaged_file_is_refused_naming_it(tmp_path):
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-50])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        data.load_mnist(tmp_path)
