"""The Parzen-window log-likelihood that the generative-model papers of the family report.

A generator that gives samples but no likelihood is scored by fitting a Gaussian kernel
density to its samples and measuring the mean log-density of the test set under it::

    log p(x) = logsumexp_i( -||x - s_i||^2 / (2 sigma^2) ) - log n - d log(sigma sqrt(2 pi))

for ``n`` samples ``s_i`` of dimension ``d``; ``sigma`` is chosen on the validation set. The
kernel sums are computed in the graph, a block of test points against a block of samples at a
time (``||x||^2 - 2 x.s + ||s||^2``: one matrix product per block), with a running
log-sum-exp, so that 10,000 x 10,000 kernels never need a 10,000 x 10,000 array at once.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_positive


def _block_function():
    x, s, sigma = pt.matrix("x"), pt.matrix("s"), pt.scalar("sigma", dtype="float64")
    x64, s64 = x.astype("float64"), s.astype("float64")
    squared = (pt.sum(x64 ** 2, axis=1)[:, None] - 2 * pt.dot(x64, s64.T)
               + pt.sum(s64 ** 2, axis=1)[None, :])
    a = -pt.maximum(squared, 0) / (2 * sigma ** 2)
    m = pt.max(a, axis=1)
    # the block's log-sum-exp, split as (max, log of the scaled sum) to combine blocks stably
    return pytensor.function([x, s, sigma], [m, pt.log(pt.sum(pt.exp(a - m[:, None]), axis=1))])


_block = None


def parzen_log_likelihood(samples: np.ndarray, test: np.ndarray, sigma: float,
                          block: int = 1000) -> np.ndarray:
    """The log-density of each row of ``test`` under a Gaussian Parzen window of width
    ``sigma`` centred on the rows of ``samples`` (a vector, one value per test row)."""
    global _block
    check_positive("sigma", sigma)
    check_positive("block", block, integer=True)
    samples, test = np.asarray(samples), np.asarray(test)
    if samples.ndim != 2 or test.ndim != 2 or samples.shape[1] != test.shape[1]:
        raise ValueError(f"samples and test must be matrices of equal width, got "
                         f"{samples.shape} and {test.shape}")
    if len(samples) == 0 or len(test) == 0:
        raise ValueError("samples and test must hold at least one row each")
    if _block is None:
        _block = _block_function()
    n, d = samples.shape
    out = np.empty(len(test))
    for i in range(0, len(test), block):
        x = test[i:i + block]
        total_max = np.full(len(x), -np.inf)
        total = np.zeros(len(x))
        for j in range(0, n, block):
            m, log_sum = _block(x, samples[j:j + block], float(sigma))
            new_max = np.maximum(total_max, m)
            total = total * np.exp(total_max - new_max) + np.exp(m + log_sum - new_max)
            total_max = new_max
        out[i:i + block] = total_max + np.log(total)
    return out - np.log(n) - d * np.log(sigma * np.sqrt(2 * np.pi))


def choose_sigma(samples: np.ndarray, validation: np.ndarray,
                 sigmas=tuple(np.logspace(-1, 0, 10))) -> tuple[float, dict]:
    """The ``sigma`` among ``sigmas`` that gives the validation set the highest mean
    log-likelihood, and each candidate's mean."""
    scores = {float(s): float(np.mean(parzen_log_likelihood(samples, validation, s)))
              for s in sigmas}
    return max(scores, key=scores.get), scores
