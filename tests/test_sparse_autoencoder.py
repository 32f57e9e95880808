import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from deeptutorial import load_data
from deeptutorial.optimizers import adam
from deeptutorial.nn import bernoulli_kl as kl_divergence
from deeptutorial.sparse_autoencoder import SparseAutoencoder

from conftest import untrained_test_mse
from test_dA import assert_gradients_match
from test_scripts import assert_one_line_error, run


def test_kl_penalty_is_zero_at_the_target_and_positive_elsewhere(float64):
    q = pt.vector("q")
    kl = pytensor.function([q], kl_divergence(0.1, q))
    slope = pytensor.function([q], pytensor.grad(pt.sum(kl_divergence(0.1, q)), q))
    assert kl(np.array([0.1]))[0] == pytest.approx(0, abs=1e-15)
    assert slope(np.array([0.1]))[0] == pytest.approx(0, abs=1e-12)
    qs = np.array([0.01, 0.05, 0.2, 0.5, 0.9])
    expected = 0.1 * np.log(0.1 / qs) + 0.9 * np.log(0.9 / (1 - qs))
    np.testing.assert_allclose(kl(qs), expected, rtol=1e-12)
    assert (kl(qs) > 0).all()
    # Far from the target the KL penalty is much steeper than the squared error (the figure).
    assert abs(slope(np.array([0.95]))[0]) > 10 * 2 * (0.95 - 0.1)


def test_gradients_match_finite_differences(float64):
    rng = np.random.RandomState(0)
    model = SparseAutoencoder(numpy_rng=rng, n_visible=6, n_hidden=4, sparsity_target=0.2,
                              sparsity_weight=0.7)
    model.b.set_value(rng.normal(size=4))
    x_value = rng.uniform(size=(5, 6))
    cost, _ = model.training_cost()
    assert_gradients_match(cost, model.params, {model.x: x_value})


def test_sparsity_loss_is_the_sum_over_units(float64):
    model = SparseAutoencoder(numpy_rng=np.random.RandomState(1), n_visible=3, n_hidden=4,
                              sparsity_target=0.05)
    h = pt.matrix("h")
    codes = np.random.RandomState(2).uniform(0.01, 0.99, size=(10, 4))
    q = codes.mean(axis=0)
    expected = np.sum(0.05 * np.log(0.05 / q) + 0.95 * np.log(0.95 / (1 - q)))
    assert pytensor.function([h], model.sparsity_loss(h))(codes) == pytest.approx(expected)
    assert pytensor.function([h], model.sparsity_loss(h))(np.full((3, 4), 0.05)) == \
        pytest.approx(0, abs=1e-12)


def mean_activation_after_training(weight: float, epochs: int = 10) -> tuple[float, np.ndarray]:
    train_set_x = load_data("sample")[0][0]
    index = pt.lscalar("index")
    model = SparseAutoencoder(numpy_rng=np.random.RandomState(3), n_hidden=50,
                              sparsity_target=0.1, sparsity_weight=weight)
    terms, _ = model.cost_terms()
    step = pytensor.function([index], [terms["reconstruction"], model.encode(model.x).mean()],
                             updates=adam(terms["cost"], model.params, 0.01),
                             givens={model.x: train_set_x[index * 50:(index + 1) * 50]})
    history = np.array([[step(i) for i in range(50)] for _ in range(epochs)])
    return float(history[-1, -10:, 1].mean()), history


def test_training_pulls_the_code_to_the_target(float32):
    """With the penalty the mean activation ends within 0.02 of the target; without it (weight
    0), from the same start, it does not. (Broken by dropping the penalty from the cost,
    ``"cost": reconstruction``: the first assertion fails.)"""
    with_penalty, history = mean_activation_after_training(50.0)
    assert history[-1, :, 0].mean() < 0.8 * history[0, :, 0].mean()  # reconstruction falls
    assert abs(with_penalty - 0.1) < 0.02
    without_penalty, _ = mean_activation_after_training(0.0)
    assert abs(without_penalty - 0.1) > 0.1


@pytest.mark.parametrize("kwargs, word", [(dict(sparsity_target=0.0), "0.0"),
                                          (dict(sparsity_target=1.5), "1.5"),
                                          (dict(sparsity_weight=-2.0), "-2.0"),
                                          (dict(n_hidden=-1), "n_hidden")])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        SparseAutoencoder(numpy_rng=np.random.RandomState(0), **kwargs)


def test_script_writes_images_and_results(tmp_path, float32):
    """(Broken by leaving the Adam updates out of the training step: the test MSE equals the
    untrained model's.)"""
    proc = run("sparse_autoencoder.py", "--dataset", "sample", "--epochs", 2, "--n-hidden", 30,
               "--sparsity-target", 0.05, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["sparsity_target"] == results["settings"]["sparsity_target"] == 0.05
    untrained = untrained_test_mse(SparseAutoencoder(numpy_rng=np.random.RandomState(123),
                                                     n_hidden=30))
    assert results["test_mse"] < 0.8 * untrained
    assert 0 < results["mean_coding_activation"] < 0.3  # pulled towards 0.05 from about 0.5
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sparse_filters.png",
                                                              "sparsity_penalties.png"]


@pytest.mark.parametrize("args, word", [(["--sparsity-target", "1"], "1"),
                                        (["--sparsity-weight", "-3"], "-3")])
def test_script_bad_input_is_one_line(tmp_path, args, word):
    proc = run("sparse_autoencoder.py", "--dataset", "sample", "--output-folder", tmp_path, *args)
    assert_one_line_error(proc, word)
