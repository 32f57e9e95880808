import json

import numpy as np
import pytest
from scipy.special import logsumexp

from deeptutorial.evaluation import choose_sigma, parzen_evaluation, parzen_log_likelihood, \
    parzen_log_likelihoods

from test_flags import load
from test_scripts import assert_one_line_error, run


def direct(samples, test, sigma):
    d = samples.shape[1]
    squared = ((test[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
    return (logsumexp(-squared / (2 * sigma ** 2), axis=1) - np.log(len(samples))
            - d * np.log(sigma * np.sqrt(2 * np.pi)))


@pytest.mark.parametrize("block", [1, 7, 1000])
def test_parzen_matches_a_direct_computation_in_any_blocks(block):
    """(Broken by combining blocks with a plain sum of their maxima: blocks of 1 and 7 fail.)"""
    rng = np.random.default_rng(0)
    samples, test = rng.normal(size=(23, 5)), rng.normal(size=(11, 5))
    for sigma in (0.05, 0.3, 2.0):  # 0.05: most kernels underflow, the log-sum-exp must not
        np.testing.assert_allclose(parzen_log_likelihood(samples, test, sigma, block=block),
                                   direct(samples, test, sigma), rtol=1e-9)


def test_sigma_is_chosen_on_validation():
    rng = np.random.default_rng(1)
    samples = rng.normal(scale=0.5, size=(400, 2))
    validation = rng.normal(scale=0.5, size=(200, 2))
    best, scores = choose_sigma(samples, validation, sigmas=(0.01, 0.2, 5.0))
    assert best == 0.2 and scores[0.2] == max(scores.values())


@pytest.mark.parametrize("sigma", [0, -1.0, float("nan")])
def test_a_sigma_that_is_not_positive_is_named(sigma):
    with pytest.raises(ValueError, match="sigma"):
        parzen_log_likelihood(np.zeros((2, 3)), np.zeros((2, 3)), sigma)


def test_many_widths_at_once_match_one_at_a_time():
    """(Broken by dividing every width's kernels by the first width: the second row fails.)"""
    rng = np.random.default_rng(2)
    samples, test = rng.normal(size=(30, 4)), rng.normal(size=(9, 4))
    sigmas = [0.2, 0.7, 3.0]
    many = parzen_log_likelihoods(samples, test, sigmas, block=4)
    for row, sigma in zip(many, sigmas):
        np.testing.assert_allclose(row, direct(samples, test, sigma), rtol=1e-9)


def test_the_evaluation_reports_the_validation_choice_and_the_test_mean():
    rng = np.random.default_rng(3)
    samples = rng.normal(scale=0.5, size=(300, 2))
    valid, test = rng.normal(scale=0.5, size=(100, 2)), rng.normal(scale=0.5, size=(50, 2))
    report = parzen_evaluation(samples, valid, test, sigmas=(0.01, 0.2, 5.0))
    assert report["parzen_sigma"] == 0.2 and not report["parzen_sigma_at_edge"]
    expected = direct(samples, test, 0.2)
    assert report["parzen_log_likelihood_nats"] == pytest.approx(expected.mean(), rel=1e-9)
    assert report["parzen_standard_error_nats"] == pytest.approx(
        expected.std(ddof=1) / np.sqrt(50), rel=1e-9)
    edge = parzen_evaluation(samples, valid, test, sigmas=(0.01, 0.02))
    assert edge["parzen_sigma"] == 0.02 and edge["parzen_sigma_at_edge"]


def test_the_reference_blur_keeps_shape_and_ink_and_zero_is_no_blur():
    """(Broken by blurring across the example axis too: each digit takes ink from the next.)"""
    blurred = load("parzen_reference.py").blurred
    rng = np.random.default_rng(4)
    images = np.zeros((3, 64))
    images[:, 27] = rng.uniform(0.5, 1, size=3)  # one lit pixel, away from the border
    assert blurred(images, 0.0, (8, 8)) is images
    out = blurred(images, 1.0, (8, 8))
    assert out.shape == images.shape
    np.testing.assert_allclose(out.sum(axis=1), images.sum(axis=1), rtol=1e-3)
    assert out[:, 27].max() < images[:, 27].min() and (out > 0).sum(axis=1).min() > 9


def test_reference_script_on_the_sample(tmp_path):
    """Real digits, then blurred ones, scored by the generators' estimator."""
    proc = run("parzen_reference.py", "--dataset", "sample", "--n-samples", 400, "--blur", 0,
               1.5, "--output-folder", tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    plain, blurred = results["scores"]
    assert (plain["blur_pixels"], blurred["blur_pixels"]) == (0, 1.5)
    assert plain["parzen_n_samples"] == 400
    assert results["parzen_log_likelihood_nats"] == plain["parzen_log_likelihood_nats"]
    assert plain["parzen_log_likelihood_nats"] != blurred["parzen_log_likelihood_nats"]
    assert (tmp_path / results["samples_image"]).stat().st_size > 0


def test_reference_script_refuses_more_samples_than_digits(tmp_path):
    assert_one_line_error(run("parzen_reference.py", "--dataset", "sample", "--n-samples",
                              "100000", "--output-folder", tmp_path), "--n-samples")
