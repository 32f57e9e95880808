"""The Parzen-window log-likelihood that the generative-model papers of the family report.

A generator that gives samples but no likelihood is scored by fitting a Gaussian kernel
density to its samples and measuring the mean log-density of the test set under it::

    log p(x) = logsumexp_i( -||x - s_i||^2 / (2 sigma^2) ) - log n - d log(sigma sqrt(2 pi))

for ``n`` samples ``s_i`` of dimension ``d``; ``sigma`` is chosen on the validation set. The
kernel sums are computed in the graph, a block of test points against a block of samples at a
time (``||x||^2 - 2 x.s + ||s||^2``: one matrix product per block, shared by every candidate
``sigma``), with a running log-sum-exp, so that 10,000 x 10,000 kernels never need a
10,000 x 10,000 array at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_fits_in_memory, check_positive

#: The candidate widths ``parzen_evaluation`` tries on the validation set by default.
DEFAULT_SIGMAS = tuple(np.round(np.geomspace(0.08, 0.4, 15), 4))


def _block_function():
    x, s, sigmas = pt.matrix("x"), pt.matrix("s"), pt.vector("sigmas", dtype="float64")
    x64, s64 = x.astype("float64"), s.astype("float64")
    squared = (pt.sum(x64 ** 2, axis=1)[:, None] - 2 * pt.dot(x64, s64.T)
               + pt.sum(s64 ** 2, axis=1)[None, :])
    # (sigma, test row, sample): every width reuses the one matrix product
    a = -pt.maximum(squared, 0)[None, :, :] / (2 * sigmas[:, None, None] ** 2)
    m = pt.max(a, axis=2)
    # the block's log-sum-exp, split as (max, log of the scaled sum) to combine blocks stably
    return pytensor.function([x, s, sigmas],
                             [m, pt.log(pt.sum(pt.exp(a - m[:, :, None]), axis=2))])


_block = None


def _check_sets(samples: np.ndarray, test: np.ndarray) -> None:
    if samples.ndim != 2 or test.ndim != 2 or samples.shape[1] != test.shape[1]:
        raise ValueError(f"samples and test must be matrices of equal width, got "
                         f"{samples.shape} and {test.shape}")
    if len(samples) == 0 or len(test) == 0:
        raise ValueError("samples and test must hold at least one row each")


def parzen_log_likelihoods(samples: np.ndarray, test: np.ndarray, sigmas: Sequence[float],
                           block: int = 500) -> np.ndarray:
    """The log-density of each row of ``test`` under Gaussian Parzen windows of each width in
    ``sigmas`` centred on the rows of ``samples``: an array (len(sigmas), len(test))."""
    global _block
    sigmas = np.atleast_1d(np.asarray(sigmas, dtype="float64"))
    for sigma in sigmas:
        check_positive("sigma", float(sigma))
    check_positive("block", block, integer=True)
    samples, test = np.asarray(samples), np.asarray(test)
    _check_sets(samples, test)
    if _block is None:
        _block = _block_function()
    n, d = samples.shape
    out = np.empty((len(sigmas), len(test)))
    for i in range(0, len(test), block):
        x = test[i:i + block]
        total_max = np.full((len(sigmas), len(x)), -np.inf)
        total = np.zeros((len(sigmas), len(x)))
        for j in range(0, n, block):
            m, log_sum = _block(x, samples[j:j + block], sigmas)
            new_max = np.maximum(total_max, m)
            total = total * np.exp(total_max - new_max) + np.exp(m + log_sum - new_max)
            total_max = new_max
        out[:, i:i + block] = total_max + np.log(total)
    return out - np.log(n) - d * np.log(sigmas * np.sqrt(2 * np.pi))[:, None]


def parzen_log_likelihood(samples: np.ndarray, test: np.ndarray, sigma: float,
                          block: int = 500) -> np.ndarray:
    """The log-density of each row of ``test`` under a Gaussian Parzen window of width
    ``sigma`` centred on the rows of ``samples`` (a vector, one value per test row)."""
    return parzen_log_likelihoods(samples, test, [sigma], block)[0]


def choose_sigma(samples: np.ndarray, validation: np.ndarray,
                 sigmas: Sequence[float] = DEFAULT_SIGMAS) -> tuple[float, dict]:
    """The ``sigma`` among ``sigmas`` that gives the validation set the highest mean
    log-likelihood, and each candidate's mean."""
    means = parzen_log_likelihoods(samples, validation, sigmas).mean(axis=1)
    scores = {float(s): float(m) for s, m in zip(sigmas, means)}
    return max(scores, key=scores.get), scores


def check_samples_fit(shape: tuple[int, ...], what: str = "the samples",
                      flags: str = "--n-parzen-samples") -> None:
    """Refuse, before anything trains, float32 samples of ``shape`` that would not fit in
    memory (``what`` they are; ``flags``: the flags to lower)."""
    check_fits_in_memory(f"{flags}: {what}", shape, 4, advice=f"lower {flags}")


def parzen_evaluation(samples: np.ndarray, validation: np.ndarray, test: np.ndarray,
                      sigmas: Sequence[float] = DEFAULT_SIGMAS,
                      log: Callable[[str], None] | None = print) -> dict:
    """The papers' protocol: ``sigma`` chosen on ``validation``, then the test set's mean
    log-likelihood (nats per digit) and its standard error, as ``results.json`` keeps them
    (and, unless ``log`` is None, as one line of text).

    A best ``sigma`` at either end of ``sigmas`` means the range was too narrow; it is
    reported as ``sigma_at_edge`` rather than hidden."""
    sigma, scores = choose_sigma(samples, validation, sigmas)
    test_ll = parzen_log_likelihood(samples, test, sigma)
    error = float(test_ll.std(ddof=1) / np.sqrt(len(test_ll))) if len(test_ll) > 1 else 0.0
    if log is not None:
        log(f"Parzen log-likelihood of the test set under {len(samples)} samples: "
            f"{test_ll.mean():.1f} +- {error:.1f} nats (sigma {sigma:g}, chosen on "
            f"{len(validation)} validation digits)")
    return {"parzen_log_likelihood_nats": float(test_ll.mean()),
            "parzen_standard_error_nats": error,
            "parzen_sigma": sigma, "parzen_sigma_at_edge": sigma in (min(scores), max(scores)),
            "parzen_validation_scores": scores, "parzen_n_samples": len(samples),
            "parzen_n_test": len(test_ll)}
