import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deeptutorial import SdA, dA
from deeptutorial.persistence import load_arrays, save_arrays

from conftest import REPO
from test_scripts import run

DA_ARGS = ["--dataset", "sample", "--epochs", 5, "--n-hidden", 200, "--corruption-levels", 0.3,
           "--save-model"]


def start(*args):
    return subprocess.Popen([sys.executable, str(REPO / "scripts" / "test_dA.py"),
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.005)


# one worker runs this module: its tests share module-scoped runs
pytestmark = pytest.mark.xdist_group("reliability")

@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    proc = run("test_dA.py", *DA_ARGS, "--output-folder", out)
    assert proc.returncode == 0, proc.stderr
    return out


def assert_same_run(folder, reference):
    got = json.loads((folder / "results.json").read_text())["runs"][0]
    want = json.loads((reference / "results.json").read_text())["runs"][0]
    assert got["epoch_costs"] == want["epoch_costs"]  # exactly, not approximately
    a, _ = load_arrays(folder / "model_corruption_30.npz")
    b, _ = load_arrays(reference / "model_corruption_30.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path, uninterrupted):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    proc = start(*DA_ARGS, "--output-folder", out, "--checkpoint-dir", ckpt)
    wait_for(ckpt / "dA_corruption_30.npz", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _, meta = load_arrays(ckpt / "dA_corruption_30.npz")
    assert 1 <= len(meta["state"]["history"]["epoch_costs"]) < 5  # really stopped midway
    proc = run("test_dA.py", *DA_ARGS, "--output-folder", out, "--checkpoint-dir", ckpt,
               "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "Resuming from" in proc.stdout
    assert_same_run(out, uninterrupted)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resumes(tmp_path, uninterrupted):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    proc = start(*DA_ARGS, "--output-folder", out, "--checkpoint-dir", ckpt)
    wait_for(ckpt / "dA_corruption_30.npz", proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("test_dA.py: error: interrupted after epoch")
    assert "stopping after this minibatch" in stdout
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] is True
    assert not (out / "filters_corruption_30.png").exists()
    proc = run("test_dA.py", *DA_ARGS, "--output-folder", out, "--checkpoint-dir", ckpt,
               "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "interrupted" not in json.loads((out / "results.json").read_text())
    assert_same_run(out, uninterrupted)


def test_resume_with_other_settings_is_refused(tmp_path, uninterrupted):
    ckpt = tmp_path / "ckpt"
    proc = run("test_dA.py", *DA_ARGS[:-1], "--epochs", 1, "--output-folder", tmp_path,
               "--checkpoint-dir", ckpt)
    assert proc.returncode == 0, proc.stderr
    proc = run("test_dA.py", *DA_ARGS[:-1], "--epochs", 1, "--learning-rate", 0.05,
               "--output-folder", tmp_path, "--checkpoint-dir", ckpt, "--resume")
    assert proc.returncode == 1
    assert "learning_rate=0.1 there, 0.05 now" in proc.stderr


def test_reload_a_saved_model_for_plotting(tmp_path, uninterrupted):
    proc = run("test_dA.py", *DA_ARGS, "--load-model", uninterrupted, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Training epoch" not in proc.stdout
    assert ((tmp_path / "filters_corruption_30.png").read_bytes()
            == (uninterrupted / "filters_corruption_30.png").read_bytes())


def test_divergence_stops_with_one_line_and_no_images(tmp_path):
    proc = run("test_dA.py", "--dataset", "sample", "--epochs", 1, "--learning-rate", 1e6,
               "--corruption-levels", 0, "--output-folder", tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "epoch 0, minibatch" in lines[0]
    assert "smaller learning rate" in lines[0]
    assert not list(tmp_path.glob("*.png"))


def test_params_round_trip_and_mismatches_are_named(tmp_path, float32):
    a = dA(numpy_rng=np.random.RandomState(0), n_visible=20, n_hidden=5)
    b = dA(numpy_rng=np.random.RandomState(1), n_visible=20, n_hidden=5)
    a.save_params(tmp_path / "a.npz")
    b.load_params(tmp_path / "a.npz")
    assert np.array_equal(a.W.get_value(), b.W.get_value())
    wrong = dA(numpy_rng=np.random.RandomState(0), n_visible=20, n_hidden=6)
    with pytest.raises(ValueError, match=r"W has shape \(20, 5\), the model needs \(20, 6\)"):
        wrong.load_params(tmp_path / "a.npz")
    assert wrong.W.get_value().shape == (20, 6)  # untouched
    sda = SdA(numpy_rng=np.random.RandomState(0), n_ins=20, hidden_layers_sizes=[5],
              corruption_levels=[0.1])
    with pytest.raises(ValueError, match="missing layer0.W.*unexpected W"):
        sda.load_params(tmp_path / "a.npz")
    save_arrays(tmp_path / "f64.npz", {k: v.astype(np.float64) for k, v in
                                       load_arrays(tmp_path / "a.npz")[0].items()})
    with pytest.raises(ValueError, match="dtype float64, the model needs float32"):
        a.load_params(tmp_path / "f64.npz")


def test_saved_files_never_hold_pickles(tmp_path):
    np.savez(tmp_path / "evil.npz", W=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="cannot read"):
        load_arrays(tmp_path / "evil.npz")


SDA_ARGS = ["--dataset", "sample", "--pretraining-epochs", 3, "--training-epochs", 4,
            "--batch-size", 10, "--hidden-layers", 30, 20, "--corruption-levels", 0.1, 0.2,
            "--pretrain-lr", 0.01, "--save-model"]


def start_SdA(*args):
    return subprocess.Popen([sys.executable, str(REPO / "scripts" / "test_SdA.py"),
                             *map(str, SDA_ARGS), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def checkpoint_state(path):
    try:
        return load_arrays(path)[1]["state"]
    except (ValueError, KeyError):  # not there yet
        return None


def signal_when(path, proc, ready, sig, seconds=180):
    """Send ``sig`` to ``proc`` once the checkpoint at ``path`` satisfies ``ready(state)``;
    return the state it had then."""
    deadline = time.time() + seconds
    while True:
        assert proc.poll() is None, "the run ended before the signal: " + proc.communicate()[1]
        assert time.time() < deadline, "the checkpoint never reached the awaited state"
        state = checkpoint_state(path) if path.exists() else None
        if state is not None and ready(state):
            proc.send_signal(sig)
            return state
        time.sleep(0.002)


@pytest.fixture(scope="module")
def whole_SdA(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole_SdA")
    proc = run("test_SdA.py", *SDA_ARGS, "--output-folder", out)
    assert proc.returncode == 0, proc.stderr
    return out


def assert_same_SdA_run(out, whole):
    got = json.loads((out / "results.json").read_text())
    want = json.loads((whole / "results.json").read_text())
    for key in ("validation_curve", "test_error_percent", "finetune_epoch_costs"):
        assert got[key] == want[key]
    assert [p["epoch_costs"] for p in got["pretraining"]] == \
        [p["epoch_costs"] for p in want["pretraining"]]
    a, _ = load_arrays(out / "model.npz")
    b, _ = load_arrays(whole / "model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in b)


def pretraining_epochs_done(state):
    return sum(len(h["epoch_costs"]) for h in state["pretraining"])


@pytest.mark.slow
@pytest.mark.parametrize("when", ["pretraining", "fine-tuning"])
def test_killed_SdA_run_resumes_to_the_same_result(tmp_path, whole_SdA, when):
    """Killed part-way (during pretraining, or during fine-tuning), resumed from the
    checkpoint, the run ends exactly as an uninterrupted one. (Broken by ignoring --resume:
    "Resuming from" is missing and the resumed run starts at epoch 0.)"""
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    proc = start_SdA("--output-folder", out, "--checkpoint-dir", ckpt)
    if when == "pretraining":
        ready = lambda s: 1 <= pretraining_epochs_done(s) < 6  # noqa: E731
    else:
        ready = lambda s: s["finetune"]["epochs"] >= 1  # noqa: E731
    signal_when(ckpt / "SdA.npz", proc, ready, signal.SIGKILL)
    proc.wait()
    # The run may write another checkpoint between the one seen and the kill landing (a
    # sample epoch takes milliseconds): what is left is what the last checkpoint says.
    state = checkpoint_state(ckpt / "SdA.npz")
    if when == "fine-tuning":
        assert state["finetune"]["epochs"] < SDA_ARGS[SDA_ARGS.index("--training-epochs") + 1]
    proc = run("test_SdA.py", *SDA_ARGS, "--output-folder", out, "--checkpoint-dir", ckpt,
               "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "Resuming from" in proc.stdout
    done_before = pretraining_epochs_done(state)
    assert proc.stdout.count("Pre-training layer") == 6 - done_before  # only what was left
    assert_same_SdA_run(out, whole_SdA)


def test_a_saved_SdA_reloads_with_the_same_errors(tmp_path, whole_SdA):
    """--load-model skips training and scores the saved network: the same test error and the
    same filters. (Broken by not calling sda.load_params: the errors are chance's.)"""
    proc = run("test_SdA.py", *SDA_ARGS, "--load-model", whole_SdA, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Pre-training" not in proc.stdout and "Loaded" in proc.stdout
    got = json.loads((tmp_path / "results.json").read_text())
    want = json.loads((whole_SdA / "results.json").read_text())
    assert got["test_error_percent"] == pytest.approx(want["test_error_percent"])
    assert got["validation_error_percent"] == pytest.approx(
        want["validation_curve"][-1]["error_percent"])
    assert ((tmp_path / "filters_layer0.png").read_bytes()
            == (whole_SdA / "filters_layer0.png").read_bytes())


@pytest.mark.slow
def test_SdA_ctrl_c_stops_cleanly_and_resumes(tmp_path, whole_SdA):
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    proc = start_SdA("--output-folder", out, "--checkpoint-dir", ckpt)
    signal_when(ckpt / "SdA.npz", proc, lambda s: pretraining_epochs_done(s) >= 1, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("test_SdA.py: error: interrupted after")
    assert json.loads((out / "results.json").read_text())["interrupted"] is True
    proc = run("test_SdA.py", *SDA_ARGS, "--output-folder", out, "--checkpoint-dir", ckpt,
               "--resume")
    assert proc.returncode == 0, proc.stderr
    assert_same_SdA_run(out, whole_SdA)


def test_a_second_ctrl_c_aborts_at_once(capsys):
    """The first Ctrl-C asks for a stop after the minibatch; a second one raises at once, and
    the script ends in one line with exit code 130. (Broken by ignoring the second signal in
    stop_on_interrupt's handler: no KeyboardInterrupt.)"""
    import os

    from deeptutorial.cli import run_script
    from deeptutorial.training import stop_on_interrupt

    before = signal.getsignal(signal.SIGINT)  # Python's own, or SIG_IGN in a background job
    with pytest.raises(KeyboardInterrupt):
        with stop_on_interrupt(log=lambda line: None) as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested  # the first: only a request
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler raises here
    assert signal.getsignal(signal.SIGINT) is before  # restored

    def main(argv):
        raise KeyboardInterrupt

    assert run_script(main, []) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "aborted at once" in lines[0]


def test_interrupted_finetuning_resumes_exactly():
    from deeptutorial.training import (FinetuneLog, StopRequest, TrainingInterrupted,
                                       train_with_early_stopping)

    def make(stop_at=None):
        stop = StopRequest()
        calls = []

        def step(i):
            calls.append(i)
            if stop_at is not None and len(calls) == stop_at:
                stop.requested = True
            return 1.0 / len(calls)

        errors = iter([0.5, 0.4, 0.41, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3] * 5)
        return step, (lambda: [next(errors)]), stop

    step, valid, _ = make()
    whole = train_with_early_stopping(step, 7, 20, valid, lambda: [0.2], log=lambda s: None)
    step, valid, stop = make(stop_at=17)  # mid-way through the third epoch
    history = FinetuneLog()
    with pytest.raises(TrainingInterrupted):
        train_with_early_stopping(step, 7, 20, valid, lambda: [0.2], log=lambda s: None,
                                  history=history, stop=stop)
    assert history.epochs == 2 and history.minibatch == 3
    stop.requested = False
    train_with_early_stopping(step, 7, 20, valid, lambda: [0.2], log=lambda s: None,
                              history=history, stop=stop)
    history.epoch_seconds = whole.epoch_seconds = []
    assert history == whole


def test_two_runs_cannot_share_a_checkpoint_folder(tmp_path):
    """A live run's checkpoint folder is refused to a second run, in one line; once the first
    is killed the folder is free again. (Broken by not calling lock_folder in parse_args.)"""
    ckpt = tmp_path / "ckpt"
    first = start(*DA_ARGS, "--epochs", 50, "--output-folder", tmp_path / "a",
                  "--checkpoint-dir", ckpt)
    wait_for(ckpt / "dA_corruption_30.npz", first)
    second = run("test_dA.py", *DA_ARGS, "--output-folder", tmp_path / "b",
                 "--checkpoint-dir", ckpt, "--resume")
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"in use by another run (process {first.pid})" in lines[0]
    assert not (tmp_path / "b").exists()
    first.send_signal(signal.SIGKILL)
    first.wait()
    third = run("test_dA.py", *DA_ARGS, "--epochs", 1, "--output-folder", tmp_path / "c",
                "--checkpoint-dir", tmp_path / "other")
    assert third.returncode == 0, third.stderr
    fourth = subprocess.run([sys.executable, "-c",
                             "import sys; from deeptutorial.cli import lock_folder; "
                             f"lock_folder('--checkpoint-dir', {str(ckpt)!r}); print('locked')"],
                            capture_output=True, text=True)
    assert fourth.stdout.strip() == "locked", fourth.stderr  # the killed run left no lock


def test_a_full_disk_mid_run_keeps_the_last_checkpoint_and_says_so(tmp_path, monkeypatch, capsys):
    """A checkpoint write that fails (ENOSPC) ends the run in one line, non-zero, and the
    checkpoint of the epoch before stays intact and loadable. (Broken by writing checkpoints
    in place, ``open(path, "wb")``, instead of through a temporary file.)"""
    import errno
    import importlib.util
    import os

    from deeptutorial import results
    from deeptutorial.cli import run_script

    spec = importlib.util.spec_from_file_location("test_dA_script", REPO / "scripts" / "test_dA.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    ckpt = tmp_path / "ckpt"
    calls = {"fsync": 0}
    real_fsync = os.fsync

    def fsync_fails_on_the_second_checkpoint(fd):
        calls["fsync"] += 1
        if calls["fsync"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(results.os, "fsync", fsync_fails_on_the_second_checkpoint)
    code = run_script(script.main, ["--dataset", "sample", "--epochs", "3", "--n-hidden", "20",
                                    "--corruption-levels", "0.3", "--output-folder",
                                    str(tmp_path / "out"), "--checkpoint-dir", str(ckpt)])
    assert code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "No space left on device" in lines[0] and "the earlier one is intact" in lines[0]
    _, meta = load_arrays(ckpt / "dA_corruption_30.npz")  # the first epoch's, readable
    assert len(meta["state"]["history"]["epoch_costs"]) == 1
    assert not list(ckpt.glob(".*.part"))  # no temporary file left behind
