import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.random.op import RandomVariable

from deeptutorial import load_data
from deeptutorial.denoising_autoencoder import DenoisingAutoencoder
from deeptutorial.optimizers import adam

from conftest import untrained_test_mse
from test_dA import assert_gradients_match
from test_scripts import assert_one_line_error, run


def small_model(noise, level, seed=0, **kwargs):
    return DenoisingAutoencoder(numpy_rng=np.random.RandomState(seed), noise=noise,
                                noise_level=level, **kwargs)


@pytest.mark.parametrize("noise, level, loss", [("gaussian", 0.3, "cross_entropy"),
                                                ("dropout", 0.4, "squared_error")])
def test_gradients_match_finite_differences(float64, noise, level, loss):
    model = small_model(noise, level, n_visible=6, n_hidden=4, loss=loss)
    x_value = np.random.RandomState(1).uniform(0.05, 0.95, size=(3, 6))
    cost, _ = model.training_cost()
    # Without the generator update every call draws the same noise: a fixed function.
    assert_gradients_match(cost, model.params, {model.x: x_value})


@pytest.mark.parametrize("noise", ["gaussian", "dropout"])
def test_noise_only_in_training(float64, noise):
    """Evaluation graphs hold no random variable and equal NumPy's noise-free model; training
    draws fresh noise. (Broken by evaluating ``encode(add_noise(x)[0])`` in reconstruct and
    evaluation_cost: the graph checks and the NumPy comparisons fail.)"""
    model = small_model(noise, 0.5, n_visible=8, n_hidden=5)
    data = np.random.RandomState(2).uniform(size=(4, 8))
    x = pt.matrix("x")
    reconstruct = pytensor.function([x], model.reconstruct(x))
    assert not any(isinstance(node.op, RandomVariable)
                   for node in reconstruct.maker.fgraph.toposort())
    W, b, W2, b2 = (p.get_value() for p in model.params)
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    np.testing.assert_allclose(reconstruct(data), sigmoid(sigmoid(data @ W + b) @ W2 + b2))
    evaluate = pytensor.function([], model.evaluation_cost(), givens={model.x: data})
    assert not any(isinstance(node.op, RandomVariable)
                   for node in evaluate.maker.fgraph.toposort())
    z = sigmoid(sigmoid(data @ W + b) @ W2 + b2)
    expected = np.mean(-np.sum(data * np.log(z) + (1 - data) * np.log(1 - z), axis=1))
    assert evaluate() == pytest.approx(expected, rel=1e-10)
    cost, updates = model.training_cost()
    train_cost = pytensor.function([], cost, updates=updates, givens={model.x: data})
    first, second = train_cost(), train_cost()
    assert first != second and first != evaluate()  # fresh noise at every training step


def test_noise_has_the_asked_statistics(float64):
    x = pt.matrix("x")
    data = np.full((300, 100), 0.6)
    gaussian = small_model("gaussian", 0.25, n_visible=100, n_hidden=3)
    noisy, updates = gaussian.add_noise(x)
    sample = pytensor.function([x], noisy, updates=updates)(data)
    assert abs((sample - data).std() - 0.25) < 0.01 and abs((sample - data).mean()) < 0.01
    dropout = small_model("dropout", 0.3, n_visible=100, n_hidden=3)
    noisy, updates = dropout.add_noise(x)
    sample = pytensor.function([x], noisy, updates=updates)(data)
    assert abs((sample == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(sample[sample != 0], 0.6 / 0.7)  # survivors rescaled
    salt = small_model("salt_and_pepper", 0.4, n_visible=100, n_hidden=3)
    noisy, updates = salt.add_noise(x)
    sample = pytensor.function([x], noisy, updates=updates)(data)
    assert abs((sample == 0).mean() - 0.2) < 0.01 and abs((sample == 1).mean() - 0.2) < 0.01
    assert abs((sample == 0.6).mean() - 0.6) < 0.01  # the rest untouched
    unchanged, no_updates = small_model("dropout", 0.0).add_noise(x)
    assert unchanged is x and no_updates == []


@pytest.mark.parametrize("noise", ["gaussian", "dropout"])
def test_cost_falls_on_real_digits(float32, noise):
    train_set_x = load_data("sample")[0][0]
    index = pt.lscalar("index")
    model = small_model(noise, 0.3, n_hidden=50)
    cost, rng_updates = model.training_cost()
    step = pytensor.function([index], cost, updates=adam(cost, model.params, 0.003) + rng_updates,
                             givens={model.x: train_set_x[index * 50:(index + 1) * 50]})
    epochs = [np.mean([step(i) for i in range(50)]) for _ in range(3)]
    assert epochs[-1] < 0.8 * epochs[0]


@pytest.mark.parametrize("kwargs, word", [(dict(noise="salt"), "salt"),
                                          (dict(noise="dropout", noise_level=1.0), "1.0"),
                                          (dict(noise="salt_and_pepper", noise_level=1.5),
                                           "1.5"),
                                          (dict(noise="gaussian", noise_level=-0.5), "-0.5"),
                                          (dict(loss="hinge"), "hinge"),
                                          (dict(n_hidden=0), "n_hidden")])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        DenoisingAutoencoder(numpy_rng=np.random.RandomState(0), **kwargs)


def test_script_writes_images_and_results(tmp_path, float32):
    """(Broken by leaving the Adam updates out of the training step: the trained test MSE
    equals the untrained one.)"""
    proc = run("denoising_autoencoder.py", "--dataset", "sample", "--epochs", 1, "--n-hidden", 20,
               "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(results["test_mse"]) == ["dropout", "gaussian"]
    for kind, mse in results["test_mse"].items():
        untrained = untrained_test_mse(DenoisingAutoencoder(
            numpy_rng=np.random.RandomState(123), n_hidden=20, noise=kind))
        assert mse < 0.8 * untrained, (kind, mse, untrained)
    assert results["settings"]["dropout_rate"] == 0.3
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "denoising_dropout.png", "denoising_gaussian.png", "denoising_side_by_side.png"]


@pytest.mark.parametrize("args, word", [(["--dropout-rate", "1"], "1"),
                                        (["--gaussian-std", "-0.2"], "-0.2"),
                                        (["--noise", "salt"], "salt")])
def test_script_bad_input_is_one_line(tmp_path, args, word):
    proc = run("denoising_autoencoder.py", "--dataset", "sample", "--output-folder", tmp_path,
               *args)
    assert_one_line_error(proc, word)
