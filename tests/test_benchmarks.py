"""The benchmarks compare like with like: checks of what their comparisons rest on."""

import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import sda_floor  # noqa: E402


# one worker runs this module: its tests share module-scoped runs
pytestmark = pytest.mark.xdist_group("benchmarks")

@pytest.fixture(scope="module")
def small_sda():
    import pytensor

    from deeptutorial import load_data

    with pytensor.config.change_flags(floatX="float32"):
        yield sda_floor.sda_steps(load_data("sample"), 12, [6, 5, 4], 3)


@pytest.mark.parametrize("n_steps", [1, 7])
def test_scanned_pretraining_steps_end_with_the_plain_steps_weights(small_sda, n_steps):
    # The floor benchmark times many pretraining steps inside one scanned call against the
    # step called alone; the comparison means something only if both run the same maths,
    # noise included.
    steps, sda, train_x = small_sda
    scanned = sda_floor.scanned_pretraining(sda, train_x, n_steps)
    W = sda.dA_layers[0].W
    before = W.get_value()
    difference = sda_floor.check_scan_same_maths(sda, steps["pretrain layer 0"], scanned,
                                                 n_steps)
    assert difference < 1e-6
    moved = np.max(np.abs(W.get_value() - before))
    assert moved > 100 * max(difference, 1e-9)  # the steps did change the weights


def test_the_check_sees_other_maths(small_sda):
    # A scanned run of a different step (a learning rate ten times larger) is caught.
    steps, sda, train_x = small_sda
    scanned = sda_floor.scanned_pretraining(sda, train_x, 5, learning_rate=0.01)
    assert sda_floor.check_scan_same_maths(sda, steps["pretrain layer 0"], scanned, 5) > 1e-5


@pytest.mark.parametrize("scan_steps", ["0", "50"])
def test_scan_steps_outside_the_timed_block_are_refused(capsys, scan_steps):
    with pytest.raises(SystemExit):
        sda_floor.main(["--steps", "10", "--scan-steps", scan_steps])
    assert f"got {scan_steps}" in capsys.readouterr().err


@pytest.mark.slow  # a real run of scripts/test_dA.py
def test_the_pytorch_dA_epoch_is_the_script_s_network(tmp_path):
    """benchmarks/epochs.py compares like with like: its PyTorch epoch of the dA tutorial,
    from the weights scripts/test_dA.py starts from, gives the script's own first-epoch cost
    at 0% corruption to float32 rounding (and a different start would not)."""
    pytest.importorskip("torch")
    import epochs

    from deeptutorial import load_mnist

    _, _, results = epochs.library_epoch("dA", "sample", str(tmp_path))
    ours = epochs.epoch_costs(results)["dA 0%"]
    train_x = load_mnist("sample")[0][0]
    theirs = float(np.mean(epochs.torch_dA_epoch(train_x, 0.0, seed=123)()))
    assert theirs == pytest.approx(ours, rel=1e-5)
    other = float(np.mean(epochs.torch_dA_epoch(train_x, 0.0, seed=124)()))
    assert other != pytest.approx(ours, rel=1e-3)
    with pytest.raises(SystemExit, match="not compute the same costs"):
        epochs.check_same_network({"dA 0%": ours}, {"dA 0%": other})
