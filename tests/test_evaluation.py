import numpy as np
import pytest
from scipy.special import logsumexp

from deeptutorial.evaluation import choose_sigma, parzen_log_likelihood


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
