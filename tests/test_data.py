import functools
import gzip
import hashlib
import http.server
import pickle
import shutil
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from deeptutorial import data
from deeptutorial.data import DataError, load_data, load_mnist

from conftest import FULL_MNIST, needs_full_mnist

SAMPLE = data.SAMPLE_DIR
NAMES = [name for name, _ in data.MNIST_FILES.values()]


def check_splits(splits, sizes):
    assert [len(x) for x, _ in splits] == sizes
    for x, y in splits:
        assert x.dtype == np.float32 and x.shape[1] == 784
        assert 0.0 <= x.min() and x.max() < 1.0
        assert y.dtype == np.int32 and set(np.unique(y)) <= set(range(10))


def test_bundled_sample_is_small_real_mnist():
    assert sum(f.stat().st_size for f in SAMPLE.iterdir()) <= 1_000_000
    splits = load_mnist("sample")
    check_splits(splits, [2500, 500, 500])
    assert np.allclose(splits[0][0] * 256, np.round(splits[0][0] * 256))  # value / 256
    assert len(set(splits[0][1].tolist())) == 10


def test_load_data_gives_shared_variables(float32):
    (train_x, train_y), (valid_x, _), _ = load_data("sample")
    assert train_x.get_value(borrow=True).dtype == np.float32
    assert train_y.get_value(borrow=True).dtype == np.int32
    assert valid_x.get_value(borrow=True).shape == (500, 784)


def test_uncompressed_folder(tmp_path):
    for name in NAMES:
        (tmp_path / name).write_bytes(gzip.decompress((SAMPLE / f"{name}.gz").read_bytes()))
    for (x1, y1), (x2, y2) in zip(load_mnist(tmp_path), load_mnist("sample")):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_tutorial_pickle(tmp_path):
    splits = load_mnist("sample")
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:  # the tutorial's layout: int64 labels, protocol 2
        pickle.dump(tuple((x, y.astype(np.int64)) for x, y in splits), f, protocol=2)
    loaded = load_mnist(path)
    check_splits(loaded, [2500, 500, 500])
    np.testing.assert_array_equal(loaded[2][1], splits[2][1])


class WritesAFile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(((np.zeros((2, 784), np.float32), WritesAFile(target)),), f, protocol=2)
    with pytest.raises(DataError, match="refusing"):
        load_mnist(path)
    assert not target.exists()
    pickle.loads(pickle.dumps(WritesAFile(target)))  # the same payload, unpickled freely,
    assert target.exists()  # does run: the refusal above is what protected us


def test_missing_path_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        load_mnist(tmp_path / "nowhere")


def test_folder_missing_a_file_is_named(tmp_path):
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_truncated_idx_file_is_refused(tmp_path):
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    raw = gzip.decompress((SAMPLE / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="train-images.*truncated"):
        load_mnist(tmp_path)


def test_corrupt_gzip_is_refused(tmp_path):
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="t10k-images"):
        load_mnist(tmp_path)


def test_images_and_labels_must_agree(tmp_path):
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    labels = np.zeros(7, np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(bytes([0, 0, 8, 1]) + (7).to_bytes(4, "big") + labels.tobytes()))
    with pytest.raises(DataError, match="do not match"):
        load_mnist(tmp_path)


# ------------------------------------------------------------------ downloading

@pytest.fixture
def sample_as_mnist(monkeypatch):
    """Make the bundled sample's content hashes the expected ones, as if it were MNIST."""
    files = {key: (name, hashlib.sha256(gzip.decompress((SAMPLE / f"{name}.gz").read_bytes()))
                   .hexdigest()) for key, (name, _) in data.MNIST_FILES.items()}
    monkeypatch.setattr(data, "MNIST_FILES", files)


@pytest.fixture
def file_server():
    """A real HTTP server on the loopback serving the bundled sample folder."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLE))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_from_a_local_server(tmp_path, sample_as_mnist, file_server):
    data.download_mnist(tmp_path, mirrors=(file_server,))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    check_splits(load_mnist(tmp_path), [2500, 500, 500])


def test_checksum_mismatch_is_refused_and_nothing_written(tmp_path, file_server):
    # the real MNIST hashes do not match the sample the server holds
    with pytest.raises(DataError, match="sha256"):
        data.download_mnist(tmp_path, mirrors=(file_server,))
    assert list(tmp_path.iterdir()) == []


def test_partial_file_is_fetched_again(tmp_path, sample_as_mnist, file_server):
    partial = tmp_path / "train-images-idx3-ubyte.gz"
    partial.write_bytes((SAMPLE / partial.name).read_bytes()[:1000])
    data.download_mnist(tmp_path, mirrors=(file_server,))
    assert partial.read_bytes() == (SAMPLE / partial.name).read_bytes()


def test_retries_then_next_mirror(tmp_path, sample_as_mnist, file_server):
    calls = []

    def flaky(url, timeout):
        calls.append(url)
        if url.startswith("http://broken/"):
            raise urllib.error.URLError("connection refused")
        return __import__("urllib.request").request.urlopen(url, timeout=timeout)

    data.download_mnist(tmp_path, mirrors=("http://broken/", file_server), opener=flaky,
                        retries=2)
    assert sum(u.startswith("http://broken/") for u in calls) == 2 * len(NAMES)
    assert len(list(tmp_path.iterdir())) == len(NAMES)


def test_offline_default_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPTUTORIAL_DATA", str(tmp_path / "mnist"))

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data, "download_mnist", functools.partial(
        data.download_mnist, opener=offline, retries=1))
    with pytest.raises(DataError) as info:
        load_mnist()
    message = str(info.value)
    assert str(tmp_path / "mnist") in message and "train-images-idx3-ubyte.gz" in message
    assert "no network" in message


def test_default_folder_is_used_and_verified(tmp_path, monkeypatch, sample_as_mnist):
    """The default folder's files are checked against their hashes. (Broken by reading the
    default folder with ``verify=False`` in load_mnist: the tampered file is accepted.)"""
    shutil.copytree(SAMPLE, tmp_path / "mnist")
    monkeypatch.setenv("DEEPTUTORIAL_DATA", str(tmp_path / "mnist"))
    check_splits(load_mnist(download=False), [2500, 500, 500])
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # one label changed: a well-formed file, the wrong content
    labels.write_bytes(gzip.compress(bytes(raw)))
    load_mnist(tmp_path / "mnist")  # named explicitly, a folder is read as it is
    with pytest.raises(DataError, match="t10k-labels.*sha256"):
        load_mnist(download=False)


def test_the_user_cache_folder_is_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPTUTORIAL_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.default_data_dir() == tmp_path / "cache" / "deeptutorial" / "mnist"
    monkeypatch.setenv("DEEPTUTORIAL_DATA", str(tmp_path / "elsewhere"))
    assert data.default_data_dir() == tmp_path / "elsewhere"


def test_bad_magic_number_is_named(tmp_path):
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    raw = bytearray(gzip.decompress((SAMPLE / "train-labels-idx1-ubyte.gz").read_bytes()))
    raw[2] = 0x0D  # float32 data: not what MNIST holds
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="train-labels.*bad magic number"):
        load_mnist(tmp_path)


def test_truncated_header_is_named(tmp_path):
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0])))
    with pytest.raises(DataError, match="t10k-images.*truncated IDX header"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("payload", [
    {"train": np.zeros((2, 784))},  # a dict, not three splits
    ((np.zeros((2, 784)), np.zeros(2)), (np.zeros((2, 784)), np.zeros(2))),  # two splits
    ((np.zeros((2, 784)), np.zeros(3)),) * 3,  # labels that do not match the images
])
def test_wrong_pickle_layout_is_named(tmp_path, payload):
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(payload, f, protocol=2)
    with pytest.raises(DataError, match="mnist.pkl.gz.*expected"):
        load_mnist(path)


def test_downloads_off_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPTUTORIAL_DATA", str(tmp_path / "mnist"))
    with pytest.raises(DataError, match="downloading is turned off") as info:
        load_mnist(download=False)
    assert str(tmp_path / "mnist") in str(info.value)


def test_complete_files_are_kept_during_a_download(tmp_path, sample_as_mnist, file_server):
    """A file already there with the right content is not fetched again. (Broken by always
    fetching in download_mnist: the opener sees four requests.)"""
    complete = tmp_path / "train-images-idx3-ubyte.gz"
    shutil.copy(SAMPLE / complete.name, complete)
    before = complete.stat().st_mtime_ns
    requested = []

    def opener(url, timeout):
        requested.append(url.rsplit("/", 1)[1])
        return __import__("urllib.request").request.urlopen(url, timeout=timeout)

    data.download_mnist(tmp_path, mirrors=(file_server,), opener=opener)
    assert complete.name not in requested and len(requested) == len(NAMES) - 1
    assert complete.stat().st_mtime_ns == before


def test_the_offline_error_names_each_mirror_once(tmp_path):
    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    mirrors = ("http://first.invalid/", "http://second.invalid/")
    with pytest.raises(DataError) as info:
        data.download_mnist(tmp_path, mirrors=mirrors, opener=offline, retries=3)
    message = str(info.value)
    for mirror in mirrors:
        assert message.count(mirror) == 1, message


@needs_full_mnist
def test_full_mnist_split_and_hashes():
    splits = data.load_idx_folder(FULL_MNIST, verify=True)
    check_splits(splits, [50000, 10000, 10000])
    assert splits[0][1][:5].tolist() == [5, 0, 4, 1, 9]
