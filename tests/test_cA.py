import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from deeptutorial import load_data
from deeptutorial.cA import cA

from test_dA import assert_gradients_match
from test_scripts import assert_one_line_error, run


def small_ca(seed=0, n_visible=6, n_hidden=4):
    rng = np.random.RandomState(seed)
    ca = cA(numpy_rng=rng, n_visible=n_visible, n_hidden=n_hidden)
    ca.b.set_value(rng.normal(size=n_hidden))
    ca.b_prime.set_value(rng.normal(size=n_visible))
    return ca, rng


def test_gradients_match_finite_differences(float64):
    ca, rng = small_ca()
    x_value = rng.uniform(size=(3, 6))
    (cost, _, _), _ = ca.get_cost_updates(0.7, 0.1)
    assert_gradients_match(cost, ca.params, {ca.x: x_value})


def test_jacobian_norm_matches_a_numerical_jacobian(float64):
    ca, rng = small_ca(1, n_visible=7, n_hidden=5)
    W, b = ca.W.get_value(), ca.b.get_value()

    def encode(v):  # the encoder in NumPy, one example
        return 1 / (1 + np.exp(-(v @ W + b)))

    x_value = rng.uniform(size=(4, 7))
    expected = []
    for row in x_value:
        J = np.zeros((7, 5))
        for i in range(7):
            step = np.zeros(7)
            step[i] = 1e-6
            J[i] = (encode(row + step) - encode(row - step)) / 2e-6
        expected.append((J ** 2).sum())
    x = pt.matrix("x")
    hidden = ca.get_hidden_values(x)
    norm2, full = pytensor.function([x], [ca.jacobian_norm2(hidden), ca.get_jacobian(hidden)])(x_value)
    np.testing.assert_allclose(norm2, expected, rtol=1e-7)
    np.testing.assert_allclose((full ** 2).sum(axis=(1, 2)), norm2, rtol=1e-12)
    mean_norm2 = ca.cost_terms(contraction_level=0.1)[0]["jacobian"]
    np.testing.assert_allclose(pytensor.function([ca.x], mean_norm2)(x_value), np.mean(expected),
                               rtol=1e-7)


def test_contraction_shrinks_the_jacobian(float32):
    train_set_x = load_data("sample")[0][0]

    def train(level):
        index = pt.lscalar("index")
        ca = cA(numpy_rng=np.random.RandomState(2), n_visible=784, n_hidden=40)
        outputs, updates = ca.get_cost_updates(level, 0.05)
        step = pytensor.function([index], outputs, updates=updates,
                                 givens={ca.x: train_set_x[index * 20:(index + 1) * 20]})
        return np.array([[step(i) for i in range(100)] for _ in range(2)])

    plain, contracted = train(0.0), train(1.0)
    rec = contracted[:, :, 1].mean(axis=1)
    assert rec[-1] < rec[0]  # the reconstruction cost falls
    assert contracted[-1, -20:, 2].mean() < 0.5 * plain[-1, -20:, 2].mean()


@pytest.mark.parametrize("kwargs, word", [(dict(n_hidden=0), "n_hidden"),
                                          (dict(n_visible=3.5), "n_visible")])
def test_bad_constructor_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        cA(numpy_rng=np.random.RandomState(0), **kwargs)


@pytest.mark.parametrize("level, lr, word", [(-0.5, 0.1, "-0.5"), (0.1, 0, "learning_rate"),
                                             (float("nan"), 0.1, "nan")])
def test_bad_training_arguments_are_named(level, lr, word):
    ca = cA(numpy_rng=np.random.RandomState(0), n_visible=4, n_hidden=2)
    with pytest.raises(ValueError, match=word):
        ca.get_cost_updates(level, lr)


def test_script_writes_filters_and_costs(tmp_path):
    proc = run("test_cA.py", "--dataset", "sample", "--epochs", 2, "--n-hidden", 20,
               "--batch-size", 50, "--learning-rate", 0.05, "--contraction-level", 0.5,
               "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["settings"]["contraction_level"] == 0.5
    for key in ("epoch_costs", "epoch_reconstruction_costs", "epoch_jacobian_norms"):
        assert len(results[key]) == 2
    assert results["epoch_reconstruction_costs"][1] < results["epoch_reconstruction_costs"][0]
    assert (tmp_path / results["filters_image"]).stat().st_size > 0
    assert "jacobian norm" in proc.stdout


@pytest.mark.parametrize("args, word", [(["--contraction-level", "-1"], "-1"),
                                        (["--n-hidden", "zero"], "zero")])
def test_script_bad_input_is_one_line(tmp_path, args, word):
    proc = run("test_cA.py", "--dataset", "sample", "--output-folder", tmp_path, *args)
    assert_one_line_error(proc, word)
