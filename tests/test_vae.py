import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.random.op import RandomVariable

from deeptutorial import load_data
from deeptutorial.optimizers import adam
from deeptutorial.nn import gaussian_kl as latent_loss
from deeptutorial.vae import VAE

from test_dA import numeric_grad
from test_scripts import assert_one_line_error, run


def test_gradients_match_finite_differences(float64):
    rng = np.random.RandomState(0)
    vae = VAE(numpy_rng=rng, n_visible=6, hidden_sizes=(5,), n_latent=3)
    for p in vae.params:  # move the biases off zero so that every path is exercised
        if p.name.startswith("b_"):
            p.set_value(rng.normal(scale=0.3, size=p.get_value().shape))
    x_value = rng.uniform(size=(4, 6))
    cost, _ = vae.training_cost()
    # Without the generator update the same eps is drawn at every call: a fixed function.
    f_cost = pytensor.function([], cost, givens={vae.x: x_value})
    f_grads = pytensor.function([], pytensor.grad(cost, vae.params), givens={vae.x: x_value})
    assert f_cost() == f_cost()
    for param, symbolic in zip(vae.params, f_grads()):
        value = param.get_value(borrow=True)
        np.testing.assert_allclose(symbolic, numeric_grad(f_cost, value), rtol=1e-5, atol=1e-7,
                                   err_msg=param.name)


def kl_to_standard_normal(mu, sigma):
    """KL(N(mu, sigma^2) || N(0, 1)) per dimension, from the general two-Gaussian formula
    log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2 with m2 = 0, s2 = 1."""
    return np.log(1.0 / sigma) + (sigma ** 2 + mu ** 2) / 2 - 0.5


def test_latent_loss_is_the_closed_form_kl(float64):
    rng = np.random.RandomState(1)
    mu, sigma = rng.normal(size=(5, 4)), rng.uniform(0.2, 3, size=(5, 4))
    m, g = pt.matrix("m"), pt.matrix("g")
    symbolic = pytensor.function([m, g], latent_loss(m, g))(mu, np.log(sigma ** 2))
    np.testing.assert_allclose(symbolic, kl_to_standard_normal(mu, sigma).sum(axis=1), rtol=1e-12)
    # ... and, for one dimension, the KL integral itself, computed numerically.
    t = np.linspace(-30, 30, 600001)
    q = np.exp(-(t - mu[0, 0]) ** 2 / (2 * sigma[0, 0] ** 2)) / np.sqrt(2 * np.pi * sigma[0, 0] ** 2)
    p = np.exp(-t ** 2 / 2) / np.sqrt(2 * np.pi)
    integrand = np.where(q > 0, q * (np.log(np.maximum(q, 1e-300)) - np.log(p)), 0)
    one_dim = pytensor.function([m, g], latent_loss(m, g))(mu[:1, :1], np.log(sigma[:1, :1] ** 2))
    np.testing.assert_allclose(one_dim[0], np.trapezoid(integrand, t), rtol=1e-6)
    # Zero exactly when q(z|x) is N(0, I).
    assert pytensor.function([m, g], latent_loss(m, g))(np.zeros((2, 3)), np.zeros((2, 3))).tolist() == [0, 0]


def test_reparameterised_codes_have_the_encoded_mean_and_variance(float64):
    vae = VAE(numpy_rng=np.random.RandomState(2), n_visible=4, hidden_sizes=(3,), n_latent=2)
    m, g = pt.matrix("m"), pt.matrix("g")
    z, updates = vae.sample_code(m, g)
    draw = pytensor.function([m, g], z, updates=updates)
    mean, gamma = np.array([[1.5, -2.0]]), np.array([[np.log(0.25), np.log(4.0)]])
    codes = np.concatenate([draw(np.repeat(mean, 2000, 0), np.repeat(gamma, 2000, 0))
                            for _ in range(5)])
    np.testing.assert_allclose(codes.mean(axis=0), mean[0], atol=0.05)
    np.testing.assert_allclose(codes.var(axis=0), np.exp(gamma[0]), rtol=0.05)
    assert not np.array_equal(draw(mean, gamma), draw(mean, gamma))  # the generator advances


def test_reconstruction_has_no_noise(float64):
    """The evaluation graph decodes the mean code: no random variable in it, and the output is
    NumPy's decode of the encoder's mean. (Broken by making reconstruct decode a sampled code,
    ``self.decode(self.sample_code(*self.encode_distribution(x))[0])``: both checks fail.)"""
    vae = VAE(numpy_rng=np.random.RandomState(3), n_visible=5, hidden_sizes=(4,), n_latent=2)
    for p in vae.params:  # biases away from zero, so that every term matters
        p.set_value(p.get_value() + np.random.RandomState(7).normal(0, 0.3, p.get_value().shape))
    x = pt.matrix("x")
    reconstruct = pytensor.function([x], vae.reconstruct(x))
    assert not any(isinstance(node.op, RandomVariable)
                   for node in reconstruct.maker.fgraph.toposort())
    data = np.random.RandomState(4).uniform(size=(3, 5))
    elu = lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0)))  # noqa: E731
    values = {p.name: p.get_value() for p in vae.params}
    h = elu(data @ values["W1"] + values["b1"])
    mean = h @ values["W_mean"] + values["b_mean"]
    g = elu(mean @ values["W_prime1"] + values["b_prime1"])
    expected = 1 / (1 + np.exp(-(g @ values["W_prime2"] + values["b_prime2"])))
    np.testing.assert_allclose(reconstruct(data), expected, rtol=1e-10)


def test_negative_elbo_falls_on_real_digits(float32):
    train_set_x = load_data("sample")[0][0]
    index, x = pt.lscalar("index"), pt.matrix("x")
    vae = VAE(numpy_rng=np.random.RandomState(5), input=x, hidden_sizes=(64,), n_latent=5)
    cost, rng_updates = vae.training_cost()
    step = pytensor.function([index], cost, updates=adam(cost, vae.params, 0.003) + rng_updates,
                             givens={x: train_set_x[index * 100:(index + 1) * 100]})
    epochs = [np.mean([step(i) for i in range(25)]) for _ in range(3)]
    assert epochs[-1] < 0.7 * epochs[0]


@pytest.mark.parametrize("kwargs, word", [(dict(n_latent=0), "n_latent"),
                                          (dict(hidden_sizes=(10, -3)), "-3"),
                                          (dict(n_visible=2.5), "n_visible")])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        VAE(numpy_rng=np.random.RandomState(0), **kwargs)


def test_script_writes_images_and_results(tmp_path):
    proc = run("variational_autoencoder.py", "--dataset", "sample", "--epochs", 2,
               "--hidden-sizes", 32, "--n-latent", 4, "--average-decay", 0,
               "--n-parzen-samples", 200, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    # An untrained decoder's pixels are about 1/2: 784 log 2 = 543 nats. (Broken by leaving
    # the Adam updates out of the training step: the figure stays near that.)
    assert results["test_neg_elbo_nats"] < 0.8 * 784 * np.log(2)
    assert len(results["epoch_train_neg_elbo_nats"]) == len(results["epoch_test_neg_elbo_nats"]) == 2
    assert results["settings"]["n_latent"] == 4
    assert results["parzen_n_samples"] == 200 and np.isfinite(results["parzen_log_likelihood_nats"])
    for key in ("generated_image", "reconstructions_image", "interpolation_image"):
        assert (tmp_path / results[key]).stat().st_size > 0
    assert "test negative ELBO" in proc.stdout


@pytest.mark.parametrize("args, word", [(["--n-latent", "0"], "0"),
                                        (["--learning-rate", "fast"], "fast"),
                                        (["--batch-size", "9999"], "9999")])
def test_script_bad_input_is_one_line(tmp_path, args, word):
    proc = run("variational_autoencoder.py", "--dataset", "sample", "--output-folder", tmp_path,
               *args)
    assert_one_line_error(proc, word)
