import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.random import shared_rng

from deeptutorial import load_data
from deeptutorial.gsn import GenerativeDenoisingAutoencoder, run_chain
from deeptutorial.optimizers import adam

from test_dA import assert_gradients_match
from test_scripts import assert_one_line_error, run


def small_gsn(walkback=1, seed=0, **kwargs):
    kwargs = {"n_visible": 6, "n_hidden": 4, **kwargs}
    return GenerativeDenoisingAutoencoder(numpy_rng=np.random.RandomState(seed),
                                          walkback=walkback, **kwargs)


@pytest.mark.parametrize("walkback", [1, 3])
def test_gradients_match_finite_differences(float64, walkback):
    rng = np.random.RandomState(1)
    gsn = small_gsn(walkback)
    gsn.b.set_value(rng.normal(size=4))
    x_value = rng.uniform(size=(5, 6))
    cost, _ = gsn.training_cost()
    # without the generator update every call draws the same noise: a fixed function
    f_cost = pytensor.function([], cost, givens={gsn.x: x_value})
    assert f_cost() == f_cost()
    assert_gradients_match(cost, gsn.params, {gsn.x: x_value})


def test_walkback_reconstructs_the_digit_from_each_step_of_its_own_chain(float64):
    """A model that copies its (binary) input exactly: each step of its chain keeps the
    pixels salt-and-pepper noise flipped, so after t steps a fraction (1 - (1 - p)^t) / 2 of
    the pixels differ from the digit, and each differing pixel costs softplus(10) nats. The
    walkback cost is the mean over the k steps; its first term the plain denoising cost.
    (Broken by reconstructing the clean x at every walkback step instead of the chain's
    sample: every term is the first's, and the cost is 80 nats, not 135.)"""
    n, p, k = 40, 0.4, 4
    gsn = small_gsn(k, n_visible=n, n_hidden=n, noise_level=p)
    for W in (gsn.W, gsn.W_prime):
        W.set_value(20 * np.eye(n))
    for b in (gsn.b, gsn.b_prime):
        b.set_value(np.full(n, -10.0))
    x_value = np.random.RandomState(3).randint(0, 2, size=(20000, n)).astype("float64")
    terms, updates = gsn.cost_terms()
    cost, first = pytensor.function([gsn.x], [terms["cost"], terms["reconstruction"]],
                                    updates=updates)(x_value)
    flipped = [(1 - (1 - p) ** t) / 2 for t in range(1, k + 1)]
    per_pixel = np.logaddexp(0, 10)
    assert first == pytest.approx(n * flipped[0] * per_pixel, rel=0.02)
    assert cost == pytest.approx(n * np.mean(flipped) * per_pixel, rel=0.02)


def test_the_transition_keeps_shapes_and_range_and_advances(float64):
    gsn = small_gsn(n_visible=30, n_hidden=8)
    means, state, updates = gsn.transition(gsn.x, shared_rng(seed=5))
    step = pytensor.function([gsn.x], [means, state], updates=updates)
    start = np.random.RandomState(2).uniform(size=(7, 30))
    m1, s1 = step(start)
    m2, s2 = step(start)
    assert m1.shape == s1.shape == (7, 30)
    assert np.all((m1 > 0) & (m1 < 1)) and set(np.unique(s1)) <= {0.0, 1.0}
    assert not np.array_equal(s1, s2)  # the chain's own stream advances
    chain = run_chain(step, start, 4)
    assert chain.shape == (4, 7, 30) and np.all((chain > 0) & (chain < 1))


def test_states_are_bernoulli_draws_of_the_means(float64):
    gsn = small_gsn(n_visible=50, n_hidden=5)
    means, state, updates = gsn.transition(gsn.x, shared_rng(seed=6))
    step = pytensor.function([gsn.x], [means, state], updates=updates)
    start = np.full((4000, 50), 0.5)
    m, s = step(start)
    # each state pixel is 1 with the probability its mean says: calibrated in bins
    for low, high in ((0.0, 0.4), (0.4, 0.6), (0.6, 1.0)):
        sel = (m >= low) & (m < high)
        if sel.sum() > 1000:
            assert abs(s[sel].mean() - m[sel].mean()) < 0.02


def test_training_lowers_the_walkback_cost_on_real_digits(float32):
    train_set_x = load_data("sample")[0][0]
    index = pt.lscalar("index")
    gsn = small_gsn(2, n_visible=784, n_hidden=50)
    cost, rng_updates = gsn.training_cost()
    step = pytensor.function([index], cost, updates=adam(cost, gsn.params, 0.003) + rng_updates,
                             givens={gsn.x: train_set_x[index * 50:(index + 1) * 50]})
    epochs = [np.mean([step(i) for i in range(50)]) for _ in range(3)]
    assert epochs[-1] < 0.8 * epochs[0]


@pytest.mark.parametrize("kwargs, word", [({"walkback": 0}, "walkback"),
                                          ({"noise_level": 0.0}, "noise_level")])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        small_gsn(**kwargs)


def test_a_chain_length_below_one_is_named():
    with pytest.raises(ValueError, match="chain length"):
        run_chain(lambda s: (s, s), np.zeros((2, 3)), 0)


def test_script_on_the_sample(tmp_path):
    proc = run("gsn_sampling.py", "--dataset", "sample", "--epochs", 3, "--n-hidden", 50,
               "--walkback", 2, "--n-chains", 20, "--burn-in", 5, "--n-parzen-samples", 300,
               "--chain-length", 6, "--n-shown", 4, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    costs = results["epoch_costs"]
    assert len(costs) == 3 and costs[-1] < costs[0]
    assert results["parzen_n_samples"] == 300 and np.isfinite(results["parzen_log_likelihood_nats"])
    from PIL import Image
    chains = Image.open(tmp_path / results["chains_from_digits_image"])
    assert chains.size[0] > chains.size[1]  # 4 chains of 7 frames: wider than tall
    assert (tmp_path / results["samples_image"]).stat().st_size > 0


def test_script_bad_input_is_one_line(tmp_path):
    assert_one_line_error(run("gsn_sampling.py", "--dataset", "sample", "--chain-length", "0",
                              "--output-folder", tmp_path), "--chain-length")
