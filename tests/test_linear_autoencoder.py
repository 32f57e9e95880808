import json
import subprocess
import sys

import numpy as np
import pytensor
import pytest

from conftest import REPO
from deeptutorial.linear_autoencoder import LinearAutoencoder, pca_basis, \
    principal_angles_degrees
from deeptutorial.optimizers import adam
from test_dA import numeric_grad


def test_gradients_match_finite_differences(float64):
    rng = np.random.RandomState(0)
    model = LinearAutoencoder(rng, n_inputs=4, n_codings=2)
    model.b.set_value(rng.normal(size=2))
    model.b_prime.set_value(rng.normal(size=4))
    x_value = rng.normal(size=(5, 4))
    f_cost = pytensor.function([], model.training_cost()[0], givens={model.x: x_value})
    f_grads = pytensor.function([], pytensor.grad(model.training_cost()[0], model.params),
                                givens={model.x: x_value})
    for param, symbolic in zip(model.params, f_grads()):
        value = param.get_value(borrow=True)
        np.testing.assert_allclose(symbolic, numeric_grad(f_cost, value), rtol=1e-5, atol=1e-8)


def test_learns_pca_subspace_on_a_tiny_set(float64):
    rng = np.random.RandomState(1)
    # 3-D points with variances 9, 4 and 0.01 along a rotated frame.
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    data = (rng.normal(size=(60, 3)) * [3.0, 2.0, 0.1]) @ rotation.T + [1.0, -2.0, 0.5]
    model = LinearAutoencoder(np.random.RandomState(2), n_inputs=3, n_codings=2)
    step = pytensor.function([], model.training_cost()[0], givens={model.x: data},
                             updates=adam(model.training_cost()[0], model.params, learning_rate=0.05))
    for _ in range(1500):
        cost = step()
    angles = principal_angles_degrees(model.decoder_basis(), pca_basis(data, 2))
    assert angles.shape == (2,) and np.all(angles < 0.5), angles
    centred = data - data.mean(axis=0)
    basis = pca_basis(data, 2)
    assert cost == pytest.approx(np.mean((centred - centred @ basis @ basis.T) ** 2), rel=1e-3)


def test_principal_angles_of_known_subspaces():
    e = np.eye(3)
    assert principal_angles_degrees(e[:, :2], e[:, :2]) == pytest.approx([0, 0], abs=1e-6)
    assert principal_angles_degrees(e[:, :2], e[:, 1:]) == pytest.approx([0, 90], abs=1e-6)
    tilted = np.array([[1.0, 0.0], [0.0, np.cos(0.3)], [0.0, np.sin(0.3)]])
    assert principal_angles_degrees(e[:, :2], 5 * tilted) == pytest.approx(
        [0, np.degrees(0.3)], abs=1e-6)


def test_loss_falls_on_the_bundled_sample(float32):
    from deeptutorial import load_mnist

    x_train = load_mnist("sample")[0][0][:200]
    model = LinearAutoencoder(np.random.RandomState(0), n_inputs=784, n_codings=20)
    step = pytensor.function([], model.training_cost()[0], givens={model.x: x_train},
                             updates=adam(model.training_cost()[0], model.params, learning_rate=0.01))
    costs = [float(step()) for _ in range(30)]
    assert costs[-1] < 0.5 * costs[0]


@pytest.mark.parametrize("kwargs, word", [
    ({"n_inputs": 3, "n_codings": 3}, "3"),
    ({"n_inputs": 0, "n_codings": 1}, "0"),
    ({"n_inputs": 3, "n_codings": 1.5}, "1.5"),
])
def test_bad_arguments_name_the_value(float64, kwargs, word):
    with pytest.raises(ValueError, match=word.replace(".", r"\.")):
        LinearAutoencoder(np.random.RandomState(0), **kwargs)
    with pytest.raises(ValueError, match="7"):
        pca_basis(np.zeros((4, 3)), 7)


def test_script_end_to_end(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "linear_autoencoder_pca.py"),
                           "--epochs", "600", "--n-points", "200",
                           "--output-folder", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["settings"]["epochs"] == 600
    assert len(results["principal_angles_degrees"]) == 2
    # the goal: within 2 degrees of PCA's plane (broken by training the encoder only,
    # adam(cost, [model.W, model.b]): the decoder's plane stays where it started)
    assert max(results["principal_angles_degrees"]) < 2
    assert (tmp_path / results["image"]).stat().st_size > 0


def test_script_bad_flag_is_one_line(tmp_path):
    from test_scripts import assert_one_line_error

    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "linear_autoencoder_pca.py"),
                           "--noise", "-0.5", "--output-folder", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc, "-0.5")
