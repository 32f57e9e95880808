import json
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from conftest import REPO, untrained_test_mse
from deeptutorial.optimizers import adam
from deeptutorial.nn import elu
from deeptutorial.stacked_autoencoder import StackedAutoencoder, activation_maximisation
from test_dA import assert_gradients_match, numeric_grad
from test_scripts import assert_one_line_error


def small_model(tied=False, l2_reg=0.1, seed=0):
    rng = np.random.RandomState(seed)
    model = StackedAutoencoder(rng, layer_sizes=(6, 4, 3), tied=tied, l2_reg=l2_reg)
    for bias in model.b + model.b_prime:
        bias.set_value(rng.normal(scale=0.5, size=bias.get_value().shape))
    return model


@pytest.mark.parametrize("tied", [False, True])
def test_gradients_match_finite_differences(float64, tied):
    model = small_model(tied)
    x_value = np.random.RandomState(1).uniform(size=(4, 6))
    assert_gradients_match(model.training_cost()[0], model.params, {model.x: x_value})


def test_phase_costs_gradients_match_finite_differences(float64):
    model = small_model()
    x_value = np.random.RandomState(2).uniform(size=(4, 6))
    for k in (1, 2):
        cost, params = model.phase_cost(k)
        f_cost = pytensor.function([], cost, givens={model.x: x_value})
        f_grads = pytensor.function([], pytensor.grad(cost, params), givens={model.x: x_value})
        for param, symbolic in zip(params, f_grads()):
            value = param.get_value(borrow=True)
            np.testing.assert_allclose(symbolic, numeric_grad(f_cost, value), rtol=1e-5,
                                       atol=1e-7)


def test_elu_and_its_gradient(float64):
    a = pt.vector("a")
    f = pytensor.function([a], [elu(a), pytensor.grad(pt.sum(elu(a)), a)])
    values, grads = f(np.array([-1000.0, -1.0, 0.5, 1000.0]))
    np.testing.assert_allclose(values, [-1.0, np.expm1(-1.0), 0.5, 1000.0])
    np.testing.assert_allclose(grads, [0.0, np.exp(-1.0), 1.0, 1.0])  # finite, no NaN


def test_tied_decoder_weights_are_the_encoder_weights_transposed(float64):
    model = small_model(tied=True)
    for W, V in zip(model.W, model.W_prime):
        assert V.owner is not None and V.owner.inputs[0] is W  # a view of W, not a copy
    assert model.weights == model.W  # only the encoder's weights are penalised
    assert set(model.params) == set(model.W + model.b + model.b_prime)
    assert not set(model.b) & set(model.b_prime)  # biases are not tied
    # Changing W1 changes the decoder's output layer accordingly.
    g = pt.matrix("g")
    out_layer = pytensor.function([g], model.decoder_layer(1, g))
    g_value = np.random.RandomState(3).normal(size=(2, 4))
    W1 = model.W[0].get_value()
    W1[0, 0] += 1.0
    model.W[0].set_value(W1)
    np.testing.assert_allclose(out_layer(g_value), g_value @ W1.T + model.b_prime[0].get_value())


def test_untied_model_penalises_all_weights_and_not_biases(float64):
    model = small_model(l2_reg=0.5)
    x_value = np.random.RandomState(4).uniform(size=(3, 6))
    both = pytensor.function([], [model.training_cost()[0], model.cost_terms()[0]["reconstruction"]],
                             givens={model.x: x_value})
    cost, loss = both()
    weights = sum(np.sum(w.get_value() ** 2) for w in model.W + model.W_prime)
    assert cost - loss == pytest.approx(0.5 * weights / 2)


def test_he_initialisation_scale(float64):
    model = StackedAutoencoder(np.random.RandomState(5), layer_sizes=(784, 300, 150))
    W1 = model.W[0].get_value()
    assert W1.shape == (784, 300) and model.W_prime[0].get_value().shape == (300, 784)
    assert np.std(W1) == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    assert not any(b.get_value().any() for b in model.b + model.b_prime)


def test_phase_two_leaves_hidden_layer_one_unchanged(float64):
    model = small_model()
    x_value = np.random.RandomState(6).uniform(size=(8, 6))
    cost1, params1 = model.phase_cost(1)
    assert set(params1) == {model.W[0], model.b[0], model.W_prime[0], model.b_prime[0]}
    phase1 = pytensor.function([], cost1, updates=adam(cost1, params1, 0.01),
                               givens={model.x: x_value})
    for _ in range(5):
        phase1()
    frozen = [model.W[0].get_value(), model.b[0].get_value()]
    inner = [p.get_value() for p in (model.W[1], model.W_prime[1])]
    # Phase 2 from cached hidden-layer-1 outputs, as the script does.
    cache = pytensor.function([], model.hidden[0], givens={model.x: x_value})()
    h1 = pt.matrix("h1")
    cost2, params2 = model.phase_cost(2, input=h1)
    assert set(params2) == {model.W[1], model.b[1], model.W_prime[1], model.b_prime[1]}
    phase2 = pytensor.function([], cost2, updates=adam(cost2, params2, 0.01), givens={h1: cache})
    costs = [float(phase2()) for _ in range(20)]
    assert costs[-1] < costs[0]
    np.testing.assert_array_equal(model.W[0].get_value(), frozen[0])
    np.testing.assert_array_equal(model.b[0].get_value(), frozen[1])
    assert not np.allclose(model.W[1].get_value(), inner[0])
    assert not np.allclose(model.W_prime[1].get_value(), inner[1])
    # Cached and recomputed inputs give the same phase-2 cost.
    recomputed, _ = model.phase_cost(2)
    assert pytensor.function([], recomputed, givens={model.x: x_value})() == pytest.approx(
        pytensor.function([], cost2, givens={h1: cache})())


def test_copy_layer_from_shallow_autoencoders(float64):
    rng = np.random.RandomState(7)
    outer = StackedAutoencoder(rng, layer_sizes=(6, 4))
    inner = StackedAutoencoder(rng, layer_sizes=(4, 3), output_activation="elu")
    deep = StackedAutoencoder(rng, layer_sizes=(6, 4, 3))
    deep.copy_layer_from(1, outer)
    deep.copy_layer_from(2, inner)
    np.testing.assert_array_equal(deep.W[0].get_value(), outer.W[0].get_value())
    np.testing.assert_array_equal(deep.W_prime[1].get_value(), inner.W_prime[0].get_value())
    x_value = rng.uniform(size=(2, 6))
    h1 = pytensor.function([], outer.hidden[0], givens={outer.x: x_value})()
    inner_out = pytensor.function([], inner.reconstruct(), givens={inner.x: h1})()
    deep_out = pytensor.function([], deep.reconstruct(), givens={deep.x: x_value})()
    expected = inner_out @ outer.W_prime[0].get_value() + outer.b_prime[0].get_value()
    np.testing.assert_allclose(deep_out, expected)
    with pytest.raises(ValueError, match=r"\(6, 4\)"):
        deep.copy_layer_from(2, outer)


def test_loss_falls_on_the_bundled_sample(float32):
    from deeptutorial import load_data

    train_x = load_data("sample")[0][0]
    index = pt.lscalar()
    model = StackedAutoencoder(np.random.RandomState(0), layer_sizes=(784, 40, 20),
                               l2_reg=1e-5)
    step = pytensor.function([index], model.cost_terms()[0]["reconstruction"],
                             updates=adam(model.training_cost()[0], model.params, 0.003),
                             givens={model.x: train_x[index * 100:(index + 1) * 100]})
    costs = [float(step(i % 25)) for i in range(60)]
    assert np.mean(costs[-10:]) < 0.5 * np.mean(costs[:5])


def test_activation_maximisation_raises_the_unit(float64):
    model = small_model()
    start = np.full((2, 6), 0.5)
    h = pytensor.function([model.x], model.encode(model.x))
    after = activation_maximisation(model, 2, [0, 2], start, n_steps=30, step_size=0.05)
    assert after.shape == (2, 6) and after.min() >= 0 and after.max() <= 1
    assert h(after)[0, 0] > h(start)[0, 0] and h(after)[1, 2] > h(start)[1, 2]


@pytest.mark.parametrize("kwargs, word", [
    ({"layer_sizes": (784,)}, "(784,)"),
    ({"layer_sizes": (784, 0)}, "0"),
    ({"l2_reg": -1.0}, "-1.0"),
    ({"output_activation": "relu"}, "relu"),
])
def test_bad_arguments_name_the_value(float64, kwargs, word):
    with pytest.raises(ValueError) as info:
        StackedAutoencoder(np.random.RandomState(0), **kwargs)
    assert word in str(info.value)
    with pytest.raises(ValueError, match="phase"):
        small_model().phase_cost(3)


def run_script(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "stacked_autoencoder.py"),
                           *map(str, args)], capture_output=True, text=True, timeout=600)


def test_script_end_to_end(tmp_path, float32):
    """All four ways of training, each beating the untrained network. (Broken by skipping
    phase 2 of the one-at-a-time variants, or the training of any variant: its test MSE stays
    near the untrained one.)"""
    proc = run_script("--dataset", "sample", "--hidden-sizes", 30, 12, "--epochs", 2,
                      "--phase-epochs", 2, "--batch-size", 50, "--units", 0, 1, 2,
                      "--top-images", 4, "--ascent-steps", 5, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    variants = ["all_at_once", "tied", "separate_graphs", "single_graph_phases"]
    assert list(results["test_mse"]) == variants
    assert results["reconstruction_rows"] == ["original"] + variants
    untrained = untrained_test_mse(StackedAutoencoder(np.random.RandomState(42),
                                                      layer_sizes=(784, 30, 12)))
    for variant, mse in results["test_mse"].items():
        assert mse < 0.7 * untrained, (variant, mse, untrained)
    assert results["settings"]["hidden_sizes"] == [30, 12]
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == sorted(["reconstructions.png", "top_activating_images.png",
                            "activation_maximisation.png"]
                           + [f"features_layer1_{v}.png" for v in results["test_mse"]])


@pytest.mark.parametrize("args, word", [
    (["--l2-reg", "-2"], "-2"),
    (["--units", "200"], "200"),
    (["--batch-size", "9999"], "9999"),
])
def test_script_bad_flags_are_one_line(tmp_path, args, word):
    assert_one_line_error(run_script("--dataset", "sample", "--output-folder", tmp_path, *args),
                          word)
