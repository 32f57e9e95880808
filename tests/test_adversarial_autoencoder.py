import argparse
import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from deeptutorial.adversarial_autoencoder import AdversarialAutoencoder, mixture_means

from test_dA import assert_gradients_match
from test_scripts import assert_one_line_error, run


def small_aae(prior="mixture", seed=0, **kwargs):
    return AdversarialAutoencoder(numpy_rng=np.random.RandomState(seed), n_visible=6,
                                  hidden_sizes=(5,), discriminator_sizes=(4,), prior=prior,
                                  **kwargs)


def values(params):
    return [p.get_value().copy() for p in params]


def moved(before, params):
    return [not np.array_equal(b, p.get_value()) for b, p in zip(before, params)]


def test_each_phase_updates_only_its_own_parameters(float32):
    """The discriminator's gradient reaches the encoder only in the generation phase: the
    discrimination phase moves the discriminator alone, generation the encoder alone,
    reconstruction the encoder and decoder. (Broken by letting the discrimination phase
    update the encoder params too: its encoder check fails.)"""
    aae = small_aae()
    x_value = np.random.RandomState(1).uniform(size=(8, 6)).astype("float32")
    groups = {"encoder": aae.encoder_params, "decoder": aae.decoder_params,
              "discriminator": aae.discriminator_params}
    expected = {"reconstruction": {"encoder", "decoder"}, "discrimination": {"discriminator"},
                "generation": {"encoder"}}
    phases = aae.phases(aae.x)
    assert list(phases) == ["reconstruction", "discrimination", "generation"]
    for name, (cost, updates) in phases.items():
        fn = pytensor.function([aae.x], cost, updates=updates)
        before = {group: values(params) for group, params in groups.items()}
        fn(x_value)
        for group, params in groups.items():
            changed = moved(before[group], params)
            if group in expected[name]:
                assert all(changed), (name, group)
            else:
                assert not any(changed), (name, group)


# The test draws the prior a second time from the same generator state on purpose: without
# updates both draws are equal, which is what lets it compute the expected gradient.
@pytest.mark.filterwarnings("ignore:RandomGeneratorVariable")
def test_the_costs_point_the_right_way(float64):
    """Raising the discriminator's output bias makes every code look more like a prior
    sample: the generator's cost falls, and the discriminator's gradient on that bias is the
    difference of the two halves' mean probabilities. (Broken by swapping the softplus signs
    of the generator: its cost rises with the logits.)"""
    aae = small_aae()
    terms, _ = aae.cost_terms()
    x_value = np.random.RandomState(2).uniform(size=(8, 6))
    last_b = aae.discriminator[-1][1]
    code, prior = aae.encode(aae.x), aae.sample_prior(8)[0]
    fn = pytensor.function([], [terms["generator"], pytensor.grad(terms["discriminator"], last_b),
                                pt.sigmoid(aae.discriminate(code)),
                                pt.sigmoid(aae.discriminate(prior))],
                           givens={aae.x: x_value})
    last_b.set_value(np.array([-2.0]))
    low, grad, p_code, p_prior = fn()
    last_b.set_value(np.array([2.0]))
    high = fn()[0]
    assert high < low
    # d/db [mean softplus(-l_p) + mean softplus(l_q)] = -mean(1 - s(l_p)) + mean(s(l_q))
    np.testing.assert_allclose(grad, -np.mean(1 - p_prior) + np.mean(p_code), rtol=1e-10)


def test_gradients_match_finite_differences(float64):
    rng = np.random.RandomState(3)
    aae = small_aae(prior="normal")
    for p in aae.params:
        if p.name.startswith("b"):
            p.set_value(rng.normal(scale=0.3, size=p.get_value().shape))
    x_value = rng.uniform(size=(4, 6))
    terms, _ = aae.cost_terms()
    # without the generator update the prior draw is the same at every call: fixed functions
    for name, params in (("reconstruction", aae.encoder_params + aae.decoder_params),
                         ("discriminator", aae.discriminator_params),
                         ("generator", aae.encoder_params)):
        assert_gradients_match(terms[name], params, {aae.x: x_value})


@pytest.mark.parametrize("prior", ["mixture", "normal"])
def test_prior_samples_have_the_prior_s_shape_and_advance(float64, prior):
    aae = small_aae(prior=prior, code_size=3)
    z, updates = aae.sample_prior(20000)
    draw = pytensor.function([], z, updates=updates)
    a, b = draw(), draw()
    assert a.shape == (20000, 3) and not np.array_equal(a, b)
    if prior == "normal":
        np.testing.assert_allclose(a.mean(axis=0), 0, atol=0.03)
        np.testing.assert_allclose(np.cov(a.T), np.eye(3), atol=0.05)
    else:
        means = mixture_means(10, 3, 4.0)
        nearest = np.argmin(((a[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
        offsets = a - means[nearest]
        np.testing.assert_allclose(offsets.std(axis=0), 0.5, atol=0.02)
        counts = np.bincount(nearest, minlength=10)
        assert counts.min() > 1700 and counts.max() < 2300  # equal weights
        assert np.allclose(means[:, 2], 0)


@pytest.mark.parametrize("kwargs, word", [
    ({"prior": "laplace"}, "prior"), ({"prior": "mixture", "code_size": 1}, "code_size"),
    ({"code_size": 0}, "code_size"), ({"component_std": 0.0}, "component_std"),
])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        small_aae(**kwargs)


def test_script_on_the_sample(tmp_path):
    proc = run("adversarial_autoencoder.py", "--dataset", "sample", "--epochs", 3,
               "--hidden-sizes", 64, "--discriminator-sizes", 32, "--n-parzen-samples", 300,
               "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    costs = results["epoch_reconstruction_costs"]
    assert len(costs) == 3 and costs[-1] < costs[0]
    assert results["settings"]["decay_epochs"] == 3  # by default every epoch
    np.testing.assert_allclose(results["step_size_factors"], 0.1 ** (np.arange(1, 4) / 3))
    assert len(results["epoch_discriminator_costs"]) == len(results["epoch_generator_costs"]) == 3
    assert 0 <= results["discriminator_accuracy"] <= 1
    assert results["parzen_n_samples"] == 300 and results["parzen_n_test"] > 0
    assert np.isfinite(results["parzen_log_likelihood_nats"])
    for key in ("codes_image", "manifold_image", "generated_image", "reconstructions_image"):
        assert (tmp_path / results[key]).stat().st_size > 0


def test_script_with_a_wider_code_shows_its_first_two_dimensions(tmp_path):
    proc = run("adversarial_autoencoder.py", "--dataset", "sample", "--epochs", 1,
               "--prior", "normal", "--code-size", 5, "--hidden-sizes", 32,
               "--discriminator-sizes", 16, "--n-parzen-samples", 100, "--output-folder",
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["settings"]["code_size"] == 5
    for key in ("codes_image", "manifold_image"):
        assert (tmp_path / results[key]).stat().st_size > 0


def test_script_bad_input_is_one_line(tmp_path):
    assert_one_line_error(run("adversarial_autoencoder.py", "--dataset", "sample",
                              "--prior", "mixture", "--code-size", "1", "--output-folder",
                              tmp_path), "--code-size")


def test_step_sizes_fall_geometrically_over_the_last_epochs():
    from test_flags import load
    factor = load("adversarial_autoencoder.py").step_size_factor
    args = argparse.Namespace(epochs=10, decay_epochs=4, final_lr_fraction=0.01)
    factors = [factor(epoch, args) for epoch in range(10)]
    assert factors[:6] == [1.0] * 6
    np.testing.assert_allclose(factors[6:], 0.01 ** (np.arange(1, 5) / 4))
    none = argparse.Namespace(epochs=10, decay_epochs=0, final_lr_fraction=0.01)
    assert [factor(epoch, none) for epoch in range(10)] == [1.0] * 10


def run_decaying_to_nothing(tmp_path, epochs: int) -> dict:
    """A small run on the sample whose last two epochs' step sizes fall to 1e-6 and 1e-12 of
    the start: its results."""
    proc = run("adversarial_autoencoder.py", "--dataset", "sample", "--epochs", epochs,
               "--decay-epochs", 2, "--final-lr-fraction", "1e-12", "--hidden-sizes", 32,
               "--discriminator-sizes", 16, "--n-parzen-samples", 100, "--output-folder",
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "results.json").read_text())


def test_script_lowers_the_step_sizes_it_trains_with(tmp_path):
    """Step sizes that fall to almost nothing after the first epoch freeze the model: the
    later epochs' costs repeat. (Broken by compiling the phases with the starting step sizes
    as constants: the costs keep falling.)"""
    results = run_decaying_to_nothing(tmp_path, epochs=3)
    np.testing.assert_allclose(results["step_size_factors"], [1, 1e-6, 1e-12])
    first, second, third = results["epoch_reconstruction_costs"]
    assert abs(third - second) < 1e-3 * abs(second - first)


def test_script_trains_the_first_epoch_at_its_factor(tmp_path):
    """With every epoch decaying to almost nothing, the first epoch is frozen too: both
    epochs' costs are those of the starting weights. (Broken by starting at the full step
    sizes and applying the schedule only after an epoch: the first epoch learns.)"""
    results = run_decaying_to_nothing(tmp_path, epochs=2)
    np.testing.assert_allclose(results["step_size_factors"], [1e-6, 1e-12])
    first, second = results["epoch_reconstruction_costs"]
    assert abs(second - first) < 1e-4 * first


def test_script_refuses_more_decay_epochs_than_epochs(tmp_path):
    assert_one_line_error(run("adversarial_autoencoder.py", "--dataset", "sample", "--epochs",
                              2, "--decay-epochs", 3, "--output-folder", tmp_path),
                          "--decay-epochs")
