"""Claims every training script makes: the divergence guard, --debug, the slow-path warning,
repeatable runs, --help."""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from deeptutorial.training import NonFiniteCost, check_costs

SCRIPTS = sorted(p.name for p in (REPO / "scripts").glob("*.py"))
# scripts that train nothing, so have no run to diverge
NOT_TRAINING = {"parzen_reference.py"}
# scripts that make their own data, so have no --dataset
OWN_DATA = {"linear_autoencoder_pca.py"}

# A learning rate no training survives, and flags that keep each run small.
DIVERGING = {
    "test_dA.py": ["--learning-rate", "1e30", "--epochs", "1", "--corruption-levels", "0"],
    "test_SdA.py": ["--pretrain-lr", "1e30", "--pretraining-epochs", "1", "--batch-size", "50",
                    "--hidden-layers", "20", "--corruption-levels", "0.1"],
    "test_cA.py": ["--learning-rate", "1e30", "--epochs", "1"],
    "denoising_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1", "--noise", "gaussian"],
    "sparse_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1"],
    "variational_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1"],
    "stacked_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1",
                               "--variants", "all_at_once"],
    "unsupervised_pretraining.py": ["--pretrain-lr", "1e30", "--pretrain-epochs", "1"],
    "linear_autoencoder_pca.py": ["--learning-rate", "1e30", "--epochs", "5"],
    "convolutional_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1", "--channels",
                                     "4", "--variants", "plain"],
    "k_sparse_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1", "--n-hidden", "50",
                                "--k", "5", "--k-start", "10"],
    "adversarial_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1",
                                   "--hidden-sizes", "16", "--discriminator-sizes", "8"],
    "gsn_sampling.py": ["--learning-rate", "1e30", "--epochs", "1", "--n-hidden", "20"],
    "stacked_convolutional_autoencoder.py": ["--pretrain-lr", "1e30", "--pretraining-epochs",
                                             "1", "--filters", "4", "4"],
    "wta_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1", "--n-hidden", "50"],
    "conv_wta_autoencoder.py": ["--learning-rate", "1e30", "--epochs", "1", "--maps", "4"],
}
# their graphs take PyTensor seconds to rewrite: their runs are slow tests
CONVOLUTIONAL = {"convolutional_autoencoder.py", "stacked_convolutional_autoencoder.py",
                 "conv_wta_autoencoder.py"}


def run(script, *args, env=None):
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env=env)


def test_the_guard_catches_nan_infinity_and_explosion():
    """(Broken by testing only ``np.isnan`` in check_costs: the infinite cost passes.)"""
    check_costs([3.0, 2.0, 250.0], epoch=0, start_cost=3.0)  # under 100x: fine
    for costs, start, word in (([1.0, math.nan], None, "nan"), ([1.0, math.inf], None, "inf"),
                               ([1.0, -math.inf], None, "-inf"),
                               ([1.0, 500.0], 2.0, "over 100 times")):
        with pytest.raises(NonFiniteCost, match=word) as info:
            check_costs(costs, epoch=3, start_cost=start)
        assert "epoch 3, minibatch 1" in str(info.value)


def test_training_stops_at_the_first_bad_minibatch():
    """A diverged run ends at the minibatch it diverged, not after the rest of its epoch.
    (Broken by checking the costs only at the end of each epoch: all 50 steps run.)"""
    from deeptutorial.training import train

    for bad in (math.nan, 1e9):  # not a number; over 100 times the first cost
        calls = []

        def step(i, bad=bad):
            calls.append(i)
            return 2.0 if len(calls) < 3 else bad

        with pytest.raises(NonFiniteCost, match="epoch 0, minibatch 2"):
            train(step, n_batches=50, n_epochs=1, log=lambda line: None)
        assert len(calls) == 3


def test_every_training_script_has_a_diverging_run():
    assert set(DIVERGING) == set(SCRIPTS) - NOT_TRAINING


@pytest.mark.parametrize("script", [
    pytest.param(s, marks=pytest.mark.slow) if s in CONVOLUTIONAL else s for s in sorted(DIVERGING)])
def test_every_script_stops_a_diverging_run_in_one_line(tmp_path, script):
    """(Broken by not calling check_costs in training.train: the runs end 0 with NaN costs,
    or write images of NaNs.)"""
    data = [] if script in OWN_DATA else ["--dataset", "sample"]
    proc = run(script, *data, "--output-folder", tmp_path, *DIVERGING[script])
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "training diverged" in lines[0], proc.stderr
    assert not list(tmp_path.glob("*.png"))


def test_debug_shows_the_traceback(tmp_path):
    """(Broken by dropping the ``--debug`` branch in cli.run_script: one line only.)"""
    args = ["--dataset", "sample", "--output-folder", tmp_path, *DIVERGING["test_cA.py"]]
    plain, debug = run("test_cA.py", *args), run("test_cA.py", *args, "--debug")
    assert len(plain.stderr.strip().splitlines()) == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip().splitlines()[-1]


def test_a_slow_path_is_named_in_one_warning_line(tmp_path):
    """PyTensor's Python linker runs every op in Python: the scripts say so first.
    (Broken by not printing slow_path_reason() in run_script.)"""
    env = dict(os.environ, PYTENSOR_FLAGS="linker=py")
    proc = run("test_dA.py", "--dataset", "sample", "--batch-size", "0",
               "--output-folder", tmp_path, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("test_dA.py: warning: slow path: PyTensor linker 'py'")
    assert "--batch-size" in lines[1]


@pytest.mark.parametrize("script, args, keys", [
    ("test_dA.py", ["--epochs", 1, "--n-hidden", 30], ["runs"]),
    ("test_SdA.py", ["--pretraining-epochs", 1, "--training-epochs", 1, "--batch-size", 20,
                     "--hidden-layers", 30, 20, "--corruption-levels", 0.1, 0.2],
     ["pretraining", "validation_curve", "test_error_percent"]),
    ("denoising_autoencoder.py", ["--epochs", 1, "--n-hidden", 30], ["runs", "test_mse"]),
])
def test_a_repeated_run_gives_identical_results(tmp_path, script, args, keys):
    """Same seed, same flags: the same numbers to the last bit, noise included. (Broken by
    seeding the noise generator from the clock, ``shared_rng(seed=None)``: the runs differ.)"""
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        proc = run(script, "--dataset", "sample", "--output-folder", out, *args)
        assert proc.returncode == 0, proc.stderr
    a, b = (json.loads((out / "results.json").read_text()) for out in (first, second))
    for key in keys:
        assert _without_times(a[key]) == _without_times(b[key])


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items()
                if "seconds" not in k and k != "model"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_shows_every_flag_with_a_default_and_a_text(script):
    proc = run(script, "--help")
    assert proc.returncode == 0
    options = proc.stdout.split("\noptions:\n", 1)[1]
    flags = re.findall(r"^  (--[a-z-]+)", options, flags=re.M)
    assert "--output-folder" in flags
    assert ("--dataset" in flags) == (script not in OWN_DATA)  # offered where it is read
    for flag in flags:
        if flag == "--help":
            continue
        block = options.split(f"\n  {flag}", 1)[1].split("\n  --", 1)[0]
        assert len(block.split()) >= 4, f"{script} {flag} has no help text"
        assert "(default:" in block, f"{script} {flag} does not show its default"


def test_moving_average_corrects_its_bias_swaps_and_restores(float64):
    """(Broken by dropping the ``/ (1 - decay**t)`` correction in MovingAverage.values: the
    first average is 0.1 p, not p.)"""
    import pytensor

    from deeptutorial.optimizers import MovingAverage

    p = pytensor.shared(np.array([2.0, -4.0]), name="p")
    average = MovingAverage([p], decay=0.9)
    step = pytensor.function([], [], updates=average.updates + [(p, p + 1.0)])
    step()  # the average saw p = (2, -4) once
    average.step()
    np.testing.assert_allclose(average.values()[0], [2.0, -4.0])
    step()  # and now (3, -3)
    average.step()
    expected = (0.9 * 0.1 * np.array([2.0, -4.0]) + 0.1 * np.array([3.0, -3.0])) / (1 - 0.81)
    np.testing.assert_allclose(average.values()[0], expected)
    with average.swapped_in():
        np.testing.assert_allclose(p.get_value(), expected)
    np.testing.assert_allclose(p.get_value(), [4.0, -2.0])  # restored
    with pytest.raises(RuntimeError), average.swapped_in():
        raise RuntimeError
    np.testing.assert_allclose(p.get_value(), [4.0, -2.0])  # restored after an error too


def test_progress_is_shown_on_a_terminal_only(monkeypatch):
    """(Broken by always wrapping in tqdm: logs and tests would fill with bars.)"""
    from deeptutorial import training

    steps = range(5)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert training.progress(steps, "epoch 0") is steps
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = training.progress(steps, "epoch 0")
    assert type(bar).__name__ == "tqdm" and list(bar) == list(steps)
    bar.close()
