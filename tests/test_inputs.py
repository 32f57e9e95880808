"""Every input is checked before training: the data's contents as a whole, the Python API's
arguments, and flags whose values vanish in float32. Table-driven: each row is a case, and
each ends in one line (or one exception naming the argument), no training started, and every
earlier file left as it was."""

import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
import pytest

from conftest import REPO
from deeptutorial import SdA, dA
from deeptutorial.checks import random_state
from deeptutorial.cli import derived_seed, run_script
from deeptutorial.data import DataError, load_mnist, read_idx
from deeptutorial.layers import HiddenLayer
from test_flags import load

# --------------------------------------------------------------------------- data contents

# Every script that reads MNIST (linear_autoencoder_pca.py makes its own 3-D data).
DATA_SCRIPTS = sorted(p.name for p in (REPO / "scripts").glob("*.py")
                      if p.name != "linear_autoencoder_pca.py")
# Small settings, so that a check that failed to fire would end quickly all the same.
SMALL = {"test_SdA.py": ["--hidden-layers", "5", "--corruption-levels", "0.1"]}
USES_VALIDATION = {"test_SdA.py", "adversarial_autoencoder.py", "gsn_sampling.py",
                   "k_sparse_autoencoder.py", "parzen_reference.py",
                   "stacked_convolutional_autoencoder.py", "variational_autoencoder.py",
                   "wta_autoencoder.py", "conv_wta_autoencoder.py"}
READS_LABELS = {"test_SdA.py", "adversarial_autoencoder.py", "k_sparse_autoencoder.py",
                "stacked_convolutional_autoencoder.py", "unsupervised_pretraining.py",
                "wta_autoencoder.py", "conv_wta_autoencoder.py"}
CONVOLUTIONAL = {"convolutional_autoencoder.py", "stacked_convolutional_autoencoder.py",
                 "conv_wta_autoencoder.py"}


def splits(n=(300, 100, 100), side=28, seed=0):
    """Three splits of real-looking data: pixels in [0, 1), labels 0..9."""
    rng = np.random.RandomState(seed)
    return [(rng.uniform(0, 1, (k, side * side)).astype(np.float32),
             rng.randint(0, 10, k).astype(np.int64)) for k in n]


def bytes_pixels(s):
    s[0] = (np.floor(s[0][0] * 256), s[0][1])
    return s


def shifted_pixels(s):
    s[1] = (s[1][0] - 5, s[1][1])
    return s


def one_nan(s):
    s[0][0][7, 100] = np.nan
    return s


def wider_test_split(s):
    s[2] = splits(side=30)[2]
    return s


def not_square(s):
    return [(x[:, :700], y) for x, y in s]


def empty_validation(s):
    s[1] = (s[1][0][:0], s[1][1][:0])
    return s


def label_42(s):
    s[2][1][3] = 42
    return s


def fractional_labels(s):
    s[0] = (s[0][0], s[0][1] + 0.5)
    return s


# (name, how the data are spoilt, the scripts that must refuse them, words of the line)
CONTENT_CASES = [
    ("pixels as bytes", bytes_pixels, DATA_SCRIPTS, "divide them by 256"),
    ("pixels below 0", shifted_pixels, DATA_SCRIPTS, "the validation split: pixels must lie in [0, 1]"),
    ("one NaN pixel", one_nan, DATA_SCRIPTS, "image 7 has a pixel that is NaN"),
    ("a wider test split", wider_test_split, DATA_SCRIPTS, "the test split has images of 900 pixels"),
    ("images not square", not_square, DATA_SCRIPTS, "700 pixels are not square"),
    ("32 x 32 images", lambda s: splits(side=32), sorted(CONVOLUTIONAL), "built for 28 x 28"),
    ("an empty validation split", empty_validation, sorted(USES_VALIDATION),
     "the validation split is empty"),
    ("a label of 42", label_42, sorted(READS_LABELS), "labels from 0 to 42"),
    ("labels that are not whole", fractional_labels, DATA_SCRIPTS, "must be whole numbers"),
]


def write_pickle(path, data):
    with gzip.open(path, "wb") as f:
        pickle.dump(tuple((x, y) for x, y in data), f, protocol=2)


def assert_refused_in_one_line(capsys, code, words, folder, earlier) -> str:
    """The run ended 1 with one line holding ``words``, trained nothing, and left ``folder``
    holding exactly the ``earlier`` files, byte for byte; returns the line."""
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert words in lines[0] and "Traceback" not in err, lines[0]
    assert "epoch" not in out.lower(), out  # nothing trained
    assert sorted(folder.iterdir()) == sorted(earlier)
    for path, content in earlier.items():
        assert path.read_bytes() == content
    return lines[0]


@pytest.mark.parametrize("case, spoil, scripts, words",
                         CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES])
def test_bad_data_are_refused_by_every_script_before_training(tmp_path, capsys, case, spoil,
                                                              scripts, words):
    """(Broken by checking only that a file is well formed: the bytes case trains to a cost
    of minus millions, the NaN one for a whole epoch, the label 42 ends in an IndexError.)"""
    data = tmp_path / "mnist.pkl.gz"
    write_pickle(data, spoil(splits()))
    for script in scripts:
        out = tmp_path / script
        out.mkdir()
        earlier = {out / "results.json": b'{"an earlier run": true}'}
        for path, content in earlier.items():
            path.write_bytes(content)
        argv = ["--dataset", str(data), "--output-folder", str(out), *SMALL.get(script, [])]
        code = run_script(load(script).main, argv)
        line = assert_refused_in_one_line(capsys, code, words, out, earlier)
        assert str(data) in line, line


@pytest.mark.parametrize("case, spoil, scripts, words",
                         CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES])
def test_the_error_names_the_file(tmp_path, case, spoil, scripts, words):
    data = tmp_path / "mnist.pkl.gz"
    write_pickle(data, spoil(splits()))
    from deeptutorial.data import check_splits, describe_source

    with pytest.raises(DataError) as info:
        check_splits(load_mnist(data), describe_source(data), n_classes=10, side=28)
    assert str(info.value).startswith(f"{data}: ")


def test_the_sample_and_good_data_pass(tmp_path):
    from deeptutorial.data import check_splits

    check_splits(load_mnist("sample"), "the sample", batch_size=20, n_classes=10, side=28)
    data = tmp_path / "mnist.pkl.gz"
    write_pickle(data, splits())
    check_splits(load_mnist(data), str(data), batch_size=100, n_classes=10, side=28)


def test_a_split_shorter_than_a_minibatch_is_named(tmp_path):
    from deeptutorial.data import check_splits

    s = splits(n=(300, 30, 100))
    with pytest.raises(DataError, match=r"the validation split holds 30 images; this run needs "
                                        r"at least 50 \(one minibatch of 50\)"):
        check_splits(s, "d", uses=("training", "validation"), batched=("validation",),
                     batch_size=50)
    check_splits(s, "d", uses=("training", "validation"), batch_size=50)  # read whole: fine


def test_an_idx_header_whose_shape_overflows_names_the_file(tmp_path):
    """(Broken by computing the size with np.prod: it wraps around int64, and the reshape
    fails with a message naming no file.)"""
    path = tmp_path / "images-idx3-ubyte"
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (2 ** 32 - 1,) * 3)
    path.write_bytes(header + bytes(16))
    with pytest.raises(DataError, match=rf"^{path}: IDX header promises shape"):
        read_idx(path)


# --------------------------------------------------------------------------- the Python API

def test_numpy_rng_may_be_a_random_state_a_generator_a_seed_or_none():
    """(Broken by using numpy_rng as given: None and a Generator have no ``randint``.)"""
    x = pt.matrix("x")
    assert dA(numpy_rng=None, input=x, n_visible=6, n_hidden=3).W.get_value().shape == (6, 3)
    generator = np.random.default_rng(0)
    first = dA(numpy_rng=generator, input=x, n_visible=6, n_hidden=3).W.get_value()
    second = dA(numpy_rng=generator, input=x, n_visible=6, n_hidden=3).W.get_value()
    assert not np.array_equal(first, second)  # drawing advanced the user's generator
    np.testing.assert_array_equal(dA(numpy_rng=7, n_visible=6, n_hidden=3).W.get_value(),
                                  dA(numpy_rng=np.random.RandomState(7), n_visible=6,
                                     n_hidden=3).W.get_value())
    assert SdA(None, n_ins=6, hidden_layers_sizes=[4, 3]).n_layers == 2
    assert SdA(np.random.default_rng(1), n_ins=6, hidden_layers_sizes=[4]).n_layers == 1
    assert random_state(np.int64(3)).randint(1000) == np.random.RandomState(3).randint(1000)


W_6x3 = np.zeros((6, 3), dtype="float64")

# (call, exception type, words the message must hold)
API_CASES = [
    (lambda: dA(numpy_rng="abc"), TypeError, "numpy_rng must be a numpy.random.RandomState"),
    (lambda: dA(numpy_rng=1.5), TypeError, "numpy_rng must be"),
    (lambda: dA(numpy_rng=True), TypeError, "numpy_rng must be"),
    (lambda: dA(numpy_rng=-1), ValueError, "numpy_rng as a seed must be in [0, 2**32)"),
    (lambda: dA(numpy_rng=2 ** 32), ValueError, "numpy_rng as a seed"),
    (lambda: SdA("seed"), TypeError, "numpy_rng must be"),
    (lambda: HiddenLayer("rng", pt.matrix(), 4, 3), TypeError, "rng must be"),
    (lambda: dA(0, n_hidden=0), ValueError, "n_hidden must be a positive integer"),
    (lambda: dA(0, n_hidden=2.5), ValueError, "n_hidden must be a positive integer"),
    (lambda: dA(0, n_visible="784"), ValueError, "n_visible must be a positive integer"),
    (lambda: SdA(0, n_ins=0), ValueError, "n_ins must be a positive integer"),
    (lambda: dA(0, input=np.zeros((2, 784))), TypeError, "input must be a symbolic matrix"),
    (lambda: dA(0, input=pt.vector("x")), TypeError, "input must be a symbolic matrix"),
    (lambda: dA(0, input=pt.tensor3("x")), TypeError, "got a 3-d"),
    (lambda: HiddenLayer(0, pt.vector(), 4, 3), TypeError, "input must be a symbolic matrix"),
    (lambda: dA(0, n_visible=6, n_hidden=4, W=_shared(W_6x3)), ValueError,
     "W has shape (6, 3), but n_visible=6, n_hidden=4 call for (6, 4)"),
    (lambda: dA(0, n_visible=6, n_hidden=3, bhid=_shared(np.zeros(6))), ValueError,
     "bhid has shape (6,)"),
    (lambda: dA(0, n_visible=6, n_hidden=3, bvis=_shared(np.zeros(3))), ValueError,
     "bvis has shape (3,)"),
    (lambda: dA(0, n_visible=6, n_hidden=3, W=W_6x3), TypeError, "W must be a shared variable"),
    (lambda: HiddenLayer(0, pt.matrix(), 4, 3, W=_shared(np.zeros((3, 4)))), ValueError,
     "W has shape (3, 4), but n_in=4, n_out=3"),
    (lambda: dA(0, n_visible=6, n_hidden=3).get_cost_updates(np.float32(2.0), 0.1),
     ValueError, "corruption_level must be in [0, 1], got np.float32(2.0)"),
    (lambda: dA(0, n_visible=6, n_hidden=3).get_cost_updates(np.float64(-0.5), 0.1),
     ValueError, "corruption_level must be in [0, 1]"),
    (lambda: dA(0, n_visible=6, n_hidden=3).get_cost_updates(0.1, np.float32(-1)),
     ValueError, "learning_rate must be a positive number"),
    (lambda: dA(0, n_visible=6, n_hidden=3).get_cost_updates(0.1, np.int64(0)),
     ValueError, "learning_rate must be a positive number"),
    (lambda: dA(0, corruption_level=np.float32(1.5)), ValueError,
     "corruption_level must be in [0, 1]"),
]


def _shared(value):
    import pytensor

    return pytensor.shared(value)


@pytest.mark.parametrize("call, kind, words", API_CASES,
                         ids=[f"case{i}" for i in range(len(API_CASES))])
def test_a_bad_argument_is_named_where_the_call_is_made(call, kind, words):
    """(Broken by checking ``isinstance(level, (int, float))``: a NumPy float32 of 2.0 is
    accepted as a corruption level.)"""
    with pytest.raises(kind) as info:
        call()
    assert words in str(info.value)


def test_a_learning_rate_that_is_zero_in_float32_is_refused(float32):
    """(Broken by checking only ``> 0``: 1e-50 is 0 in float32, and the run changes nothing.)"""
    with pytest.raises(ValueError, match="learning_rate 1e-50 is 0 in float32"):
        dA(0, n_visible=6, n_hidden=3).get_cost_updates(0.1, 1e-50)
    dA(0, n_visible=6, n_hidden=3).get_cost_updates(0.1, 1e-30)  # small, but a float32


# --------------------------------------------------------------------------- flags

@pytest.mark.parametrize("script, flag, value, words", [
    ("test_dA.py", "--learning-rate", "1e-50", "1e-50 is 0 in float32"),
    ("test_SdA.py", "--finetune-lr", "1e-46", "1e-46 is 0 in float32"),
    ("variational_autoencoder.py", "--learning-rate", "1e39", "1e39 is infinite in float32"),
    ("sparse_autoencoder.py", "--sparsity-weight", "1e-60", "1e-60 is 0 in float32"),
])
def test_a_flag_that_vanishes_in_float32_is_one_line(tmp_path, capsys, script, flag, value,
                                                     words):
    module = load(script)
    with pytest.raises(SystemExit) as info:
        module.main(["--dataset", "sample", "--output-folder", str(tmp_path / "out"), flag,
                     value])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1
    assert flag in err[0] and words in err[0], err[0]
    assert not (tmp_path / "out").exists()


def test_every_seed_a_run_derives_stays_in_the_generators_range():
    """(Broken by ``RandomState(args.seed + 1)``: --seed 4294967295 passed the flag's check
    and failed after compiling.)"""
    assert derived_seed(2 ** 32 - 1, 1) == 0
    assert derived_seed(123, 1) == 124  # the recorded runs' seeds are unchanged
    for seed in (0, 123, 2 ** 32 - 1):
        for k in range(5):
            np.random.RandomState(derived_seed(seed, k))
    for script in (REPO / "scripts").glob("*.py"):
        assert "args.seed +" not in script.read_text(), script.name


# --------------------------------------------------------------------------- paths and files

def dangling_link(folder):
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(folder.parent / "gone")
    return {}


def results_json_a_folder(folder):
    (folder / "results.json").mkdir(parents=True)
    return {}


def results_json_a_dangling_link(folder):
    folder.mkdir(parents=True)
    (folder / "results.json").symlink_to(folder / "gone.json")
    return {}


# (name, how the output folder is prepared, words of the line)
PATH_CASES = [
    ("the folder a dangling link", dangling_link, "which does not exist"),
    ("results.json a folder", results_json_a_folder, "results.json there is a folder"),
    ("results.json a dangling link", results_json_a_dangling_link,
     "results.json there is a link to"),
]


@pytest.mark.parametrize("case, prepare, words", PATH_CASES, ids=[c[0] for c in PATH_CASES])
@pytest.mark.parametrize("script", ["test_dA.py", "test_SdA.py", "k_sparse_autoencoder.py",
                                    "linear_autoencoder_pca.py"])
def test_an_output_path_that_cannot_be_written_is_refused_first(tmp_path, capsys, case, prepare,
                                                                 words, script):
    """(Broken by checking only os.path.exists: a dangling link passes, and the run trains
    first and fails at its first write.)"""
    out = tmp_path / "runs" / "out"
    prepare(out)
    before = sorted(p.name for p in out.parent.iterdir())
    with pytest.raises(SystemExit) as info:
        load(script).main(["--output-folder", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(lines) == 1 and words in lines[0], lines
    assert "--output-folder" in lines[0]
    assert sorted(p.name for p in out.parent.iterdir()) == before


def test_results_get_the_umask_permissions_and_stale_parts_go(tmp_path):
    """(Broken by leaving mkstemp's 0600: a class's other accounts cannot read the results.)"""
    import os
    import subprocess
    import sys

    from deeptutorial.results import write_atomically

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".results.json.{dead}.abc123.part"
    stale.write_text("half a file")
    other = tmp_path / f".results.json.{os.getppid()}.xyz.part"  # a live process's: kept
    other.write_text("being written")
    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "results.json", b"{}")
        assert (tmp_path / "results.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_atomically(tmp_path / "filters.png", b"png")
        assert (tmp_path / "filters.png").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
    assert not stale.exists() and other.exists()


def test_an_interrupted_run_never_replaces_a_finished_one(tmp_path):
    """(Broken by writing results.json whatever it held: one Ctrl-C replaced a finished
    run's results by ``interrupted: true``.)"""
    import json

    from deeptutorial.results import write_results

    finished = {"runs": [1, 2, 3]}
    write_results(tmp_path, finished)
    assert write_results(tmp_path, {"interrupted": True}).name == "results.interrupted.json"
    assert json.loads((tmp_path / "results.json").read_text()) == finished
    # an interrupted run may replace an interrupted one, and a finished run anything
    (tmp_path / "results.json").write_text('{"interrupted": true}')
    assert write_results(tmp_path, {"interrupted": True, "x": 1}).name == "results.json"
    assert write_results(tmp_path, finished).name == "results.json"


# --------------------------------------------------------------------------- checkpoints

TINY_DA = ["--dataset", "sample", "--epochs", "1", "--n-hidden", "10", "--corruption-levels",
           "0.3"]


@pytest.fixture(scope="module")
def a_checkpoint(tmp_path_factory):
    """The checkpoint folder of one tiny finished dA run, and its one checkpoint's contents."""
    folder = tmp_path_factory.mktemp("run")
    code = run_script(load("test_dA.py").main,
                      [*TINY_DA, "--output-folder", str(folder / "out"), "--checkpoint-dir",
                       str(folder / "ckpt")])
    assert code == 0
    from deeptutorial.persistence import load_arrays

    return folder / "ckpt", load_arrays(folder / "ckpt" / "dA_corruption_30.npz")


def copy_of(checkpoint, tmp_path):
    import shutil

    return Path(shutil.copytree(checkpoint, tmp_path / "ckpt"))


def test_an_earlier_runs_checkpoints_are_resumed_or_overwritten_never_replaced(
        tmp_path, capsys, a_checkpoint):
    """(Broken by starting afresh whenever --resume is missing: the earlier run's checkpoint
    is silently replaced.)"""
    ckpt = copy_of(a_checkpoint[0], tmp_path)
    earlier = (ckpt / "dA_corruption_30.npz").read_bytes()
    argv = [*TINY_DA, "--output-folder", str(tmp_path / "out"), "--checkpoint-dir", str(ckpt)]
    with pytest.raises(SystemExit) as info:
        load("test_dA.py").main(argv)
    line = capsys.readouterr().err.strip()
    assert info.value.code == 2 and "\n" not in line
    assert "holds an earlier run's checkpoints (dA_corruption_30.npz): --resume it, or " \
           "--overwrite to start over" in line
    assert (ckpt / "dA_corruption_30.npz").read_bytes() == earlier
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        load("test_dA.py").main([*argv, "--resume", "--overwrite"])
    assert "choose one" in capsys.readouterr().err
    assert run_script(load("test_dA.py").main, [*argv, "--overwrite"]) == 0


def crafted(meta_change=None, array_change=None):
    def make(arrays, meta):
        arrays, meta = dict(arrays), json.loads(json.dumps(meta))
        if meta_change:
            meta_change(meta)
        if array_change:
            array_change(arrays)
        return arrays, meta
    return make


def drop_history(meta):
    del meta["state"]["history"]


def state_a_string(meta):
    meta["state"] = "resume me"


def settings_a_list(meta):
    meta["state"]["settings"] = [1, 2]


def costs_a_string(meta):
    meta["state"]["history"]["epoch_costs"] = "low"


def extra_field(meta):
    meta["state"]["history"]["learning_rate"] = 0.1


def nan_weights(arrays):
    arrays["W"] = np.full_like(arrays["W"], np.nan)


# (name, how the checkpoint is changed, words of the line)
CHECKPOINT_CASES = [
    ("no history", crafted(drop_history), "its state's 'history' is missing, expected an object"),
    ("the state a string", crafted(state_a_string), "its state is str, expected a JSON object"),
    ("settings a list", crafted(settings_a_list), "its state's 'settings' is list"),
    ("costs a string", crafted(costs_a_string), "its history's epoch_costs is 'low'"),
    ("an unknown field", crafted(extra_field), "fields this script does not know: learning_rate"),
    ("NaN weights", crafted(array_change=nan_weights), "W holds NaN or infinite values"),
]


@pytest.mark.parametrize("case, change, words", CHECKPOINT_CASES,
                         ids=[c[0] for c in CHECKPOINT_CASES])
def test_a_damaged_checkpoint_is_one_line_on_resume(tmp_path, capsys, a_checkpoint, case, change,
                                                    words):
    """(Broken by ``TrainingLog(**state["history"])``: a crafted document ends in a KeyError
    or TypeError traceback, and NaN weights resume silently.)"""
    from deeptutorial.persistence import save_arrays

    ckpt = copy_of(a_checkpoint[0], tmp_path)
    arrays, meta = change(*a_checkpoint[1])
    path = ckpt / "dA_corruption_30.npz"
    save_arrays(path, arrays, meta)
    earlier = path.read_bytes()
    code = run_script(load("test_dA.py").main,
                      [*TINY_DA, "--output-folder", str(tmp_path / "out"),
                       "--checkpoint-dir", str(ckpt), "--resume"])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and words in lines[0], err
    assert str(path) in lines[0] and "epoch" not in out.lower()
    assert path.read_bytes() == earlier


@pytest.mark.parametrize("script, flags, words", [
    ("variational_autoencoder.py", ["--n-parzen-samples", "10000000000"],
     "--n-parzen-samples: the samples of 10000000000 x 784"),
    ("adversarial_autoencoder.py", ["--n-parzen-samples", "10000000000"],
     "lower --n-parzen-samples"),
    ("gsn_sampling.py", ["--burn-in", "1000000000"],
     "the chains' steps (steps x chains x pixels) of 1000000100 x 100 x 784"),
])
def test_samples_out_of_memory_are_refused_before_training(tmp_path, capsys, script, flags,
                                                           words):
    """(Broken by checking the sample count only when the samples are drawn: the run trains
    for minutes, then fails.)"""
    code = run_script(load(script).main, ["--dataset", "sample", "--output-folder",
                                          str(tmp_path / "out"), *flags])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and words in lines[0] and "GB" in lines[0], err
    assert "epoch" not in out.lower() and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the environment

def a_file(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    return {"PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'a-file'}"}


def a_cut_module(tmp_path):
    """A compile cache holding one finished module whose library was cut short."""
    import shutil

    import pytensor

    x = pt.vector("x")
    pytensor.function([x], pt.exp(x) + 1)  # one compiled module at least, even on a new machine
    real = Path(pytensor.config.compiledir)
    cache = tmp_path / "cache" / real.name
    cache.mkdir(parents=True)
    module = next(p.parent for p in sorted(real.glob("*/key.pkl")) if list(p.parent.glob("*.so")))
    shutil.copytree(module, cache / module.name)
    library = next((cache / module.name).glob("*.so"))
    library.write_bytes(library.read_bytes()[:1000])
    return {"PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'cache'}"}


# (name, the environment, words of the line)
ENVIRONMENT_CASES = [
    ("floatX", lambda t: {"PYTENSOR_FLAGS": "floatX=bogus"},
     "PYTENSOR_FLAGS='floatX=bogus': Invalid value ('bogus') for configuration variable 'floatX'"),
    ("linker", lambda t: {"PYTENSOR_FLAGS": "linker=bogus"}, "variable 'linker'"),
    ("mode", lambda t: {"PYTENSOR_FLAGS": "mode=bogus"}, "PYTENSOR_FLAGS='mode=bogus'"),
    ("compile directory a file", a_file, "Unable to create the compiledir directory"),
    ("a cut module in the cache", a_cut_module,
     "compile cache holds 1 damaged modules (cut short"),
    ("fast path", lambda t: {"DEEPTUTORIAL_FASTPATH": "garbage"},
     "DEEPTUTORIAL_FASTPATH='garbage': expected 0, off"),
    ("BLAS", lambda t: {"DEEPTUTORIAL_BLAS": "garbage"}, "DEEPTUTORIAL_BLAS='garbage'"),
    ("threads", lambda t: {"OMP_NUM_THREADS": "abc"},
     "OMP_NUM_THREADS='abc': expected a number of threads"),
]


@pytest.mark.parametrize("case, environment, words", ENVIRONMENT_CASES,
                         ids=[c[0] for c in ENVIRONMENT_CASES])
def test_a_setting_that_cannot_be_used_is_one_line(tmp_path, case, environment, words):
    """(Broken by importing PyTensor before checking: its ValueError is a traceback, and a
    cut module in the cache crashes Python with a bus error.)"""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTENSOR_FLAGS", "DEEPTUTORIAL_FASTPATH", "DEEPTUTORIAL_BLAS")}
    env.update(environment(tmp_path))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "test_dA.py"), "--dataset",
                           "sample", "--output-folder", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("test_dA.py: error: ") and words in lines[0], lines[0]
    assert not out.exists()
    # imported by other code (a notebook, a program), the same problem is an exception
    proc = subprocess.run([sys.executable, "-c", "import deeptutorial"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "deeptutorial.environment.SettingError: "), proc.stderr


# --------------------------------------------------------------------------- never a mix of runs

def finished_run(folder):
    """A finished run's files in ``folder``: their contents by name."""
    from deeptutorial.results import save_image, write_results

    save_image(folder, "filters_a.png", np.zeros((4, 4), dtype=np.uint8))
    (folder / "notes.txt").write_text("the learner's own file")
    write_results(folder, {"runs": [{"filters_image": "filters_a.png"}]})
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_run_that_fails_midway_leaves_the_finished_run_whole(tmp_path, capsys):
    """A --load-model run that fails at its second level. (Broken by writing straight into
    the folder: the first level's image replaces the finished run's.)"""
    out = tmp_path / "out"
    assert run_script(load("test_dA.py").main, [*TINY_DA, "--save-model", "--output-folder",
                                                str(out)]) == 0
    before = contents(out)
    code = run_script(load("test_dA.py").main,
                      [*TINY_DA, "--corruption-levels", "0.3", "0.5", "--load-model", str(out),
                       "--output-folder", str(out)])
    assert code == 1 and "model_corruption_50.npz: no such file" in capsys.readouterr().err
    assert contents(out) == before
    assert sorted(p.name for p in (out / "unfinished-run").iterdir()) == \
        ["filters_corruption_30.png"]
    assert not list(out.glob(".run-*"))


def test_an_interrupted_run_is_set_aside_and_a_finished_one_replaces(tmp_path):
    """(Broken by replacing results.json with the interrupted run's, or by leaving the
    earlier run's images beside a new run's results.)"""
    from deeptutorial.results import begin_run, save_image, write_results

    before = finished_run(tmp_path)
    begin_run(tmp_path)
    save_image(tmp_path, "filters_a.png", np.ones((4, 4), dtype=np.uint8))
    write_results(tmp_path, {"interrupted": True})
    assert contents(tmp_path) == before
    assert json.loads((tmp_path / "unfinished-run" / "results.json").read_text()) == \
        {"interrupted": True}
    begin_run(tmp_path)
    save_image(tmp_path, "filters_b.png", np.ones((4, 4), dtype=np.uint8))
    write_results(tmp_path, {"runs": [{"filters_image": "filters_b.png"}]})
    assert sorted(contents(tmp_path)) == ["filters_b.png", "notes.txt", "results.json"]
    assert (tmp_path / "notes.txt").read_text() == "the learner's own file"
    assert not list(tmp_path.glob(".run-*"))


def test_a_killed_runs_staging_folder_becomes_unfinished(tmp_path):
    import subprocess
    import sys

    from deeptutorial.results import begin_run

    before = finished_run(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / f".run-{dead}-0").mkdir()
    (tmp_path / f".run-{dead}-0" / "filters_a.png").write_bytes(b"half a run")
    begin_run(tmp_path)
    assert (tmp_path / "unfinished-run" / "filters_a.png").read_bytes() == b"half a run"
    assert contents(tmp_path) == before
