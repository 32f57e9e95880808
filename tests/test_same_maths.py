"""The steps keep their maths when the fast path or the convolutions change how they run.

``data/sda_sample_reference.json`` holds the per-epoch costs and validation errors of two
short seeded runs of ``scripts/test_SdA.py`` on the bundled sample, recorded before the fused
row-pass ops (``deeptutorial/fastpath/row_pass.py``) replaced PyTensor's BLAS calls in those
steps. Every step since must give the same numbers up to float32 rounding: a change in the
maths (a wrong update, a row skipped that should not be, the noise drawn differently) moves
the costs by far more than the tolerance below.
"""

import json
import shlex

import numpy as np
import pytest

from conftest import REPO
from test_scripts import run

REFERENCE = json.loads((REPO / "tests" / "data" / "sda_sample_reference.json").read_text())
# float32 rounding over 2,500-step epochs moves a mean cost by about 1e-7 relative (one and two
# BLAS threads differ by that much); a changed update moves it by 1e-3 or more.
COST_RTOL = 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE["runs"]))
def test_short_sda_run_matches_the_recorded_one(tmp_path, name):
    expected = REFERENCE["runs"][name]
    args = shlex.split(expected["command"])[2:]  # after "python scripts/test_SdA.py"
    proc = run("test_SdA.py", *args, "--output-folder", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "results.json").read_text())
    np.testing.assert_allclose([layer["epoch_costs"] for layer in got["pretraining"]],
                               expected["pretraining_epoch_costs"], rtol=COST_RTOL)
    np.testing.assert_allclose(got["finetune_epoch_costs"], expected["finetune_epoch_costs"],
                               rtol=COST_RTOL)
    assert [v["error_percent"] for v in got["validation_curve"]] == pytest.approx(
        expected["validation_error_percent"], abs=1e-9)
    assert got["test_error_percent"] == pytest.approx(expected["test_error_percent"], abs=1e-9)


CONV_REFERENCE = json.loads((REPO / "tests" / "data" / "conv_sample_reference.json").read_text())


def conv_epoch_costs(results: dict) -> dict:
    """The epoch costs of each variant in the convolutional autoencoder script's results."""
    return {variant: run["epoch_costs"] for variant, run in results["runs"].items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONV_REFERENCE["runs"]))
def test_short_convolutional_run_matches_the_recorded_one(tmp_path, name, float32):
    """conv2d's speed-ups keep its maths: the costs of a short seeded run of the convolutional
    autoencoder (plain and denoising: stride-1 convolutions and stride-2 transposed ones),
    recorded before them, to float32 rounding. The same run is the script's end-to-end test:
    both variants' results, their images, and test errors that beat the untrained network's.
    (Broken by leaving Adam's updates out of the script's training step.)"""
    from conftest import untrained_test_mse
    from deeptutorial.conv_autoencoder import ConvAutoencoder

    expected = CONV_REFERENCE["runs"][name]
    args = shlex.split(expected["command"])[2:]
    proc = run(f"{name}.py", *args, "--output-folder", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    got = conv_epoch_costs(results)
    assert sorted(got) == sorted(expected["epoch_costs"])
    for part, costs in expected["epoch_costs"].items():
        np.testing.assert_allclose(got[part], costs, rtol=COST_RTOL, err_msg=part)
    assert set(results["test_mse"]) == {"plain", "denoising"}
    untrained = untrained_test_mse(ConvAutoencoder(np.random.RandomState(results["settings"]
                                                                         ["seed"])))
    assert all(mse < 0.8 * untrained for mse in results["test_mse"].values())
    assert results["runs"]["denoising"]["noisy_test_mse"] > 0
    images = [value for run_ in results["runs"].values() for key, value in run_.items()
              if key.endswith("_image")]
    assert len(images) == 4 and all((tmp_path / image).stat().st_size > 0 for image in images)
