"""The sparse autoencoder: a KL-divergence penalty on the mean activation of the code."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_positive
from deeptutorial.dA import init_sigmoid_weights, zeros_shared
from deeptutorial.losses import cross_entropy
from deeptutorial.persistence import SavesParams


def kl_divergence(p, q):
    """KL divergence of Bernoulli(p) from Bernoulli(q), elementwise:
    ``p log(p / q) + (1 - p) log((1 - p) / (1 - q))``; zero exactly when ``q == p``."""
    return p * pt.log(p / q) + (1 - p) * pt.log((1 - p) / (1 - q))


def check_sparsity_target(value) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1):
        raise ValueError(f"sparsity_target must be in (0, 1), got {value!r}")


class SparseAutoencoder(SavesParams):
    """Autoencoder whose sigmoid code is pushed to be active only a fraction of the time.

    With ``h = sigmoid(x W + b)`` (the code) and ``z = sigmoid(h W2 + b2)`` (the
    reconstruction, untied weights), let ``q_j`` be the mean activation of code unit j
    over the minibatch. Each unit should fire with the target probability ``p``; the
    penalty is the KL divergence of Bernoulli(p) from Bernoulli(q_j), summed over units::

        sparsity = sum_j [ p log(p / q_j) + (1 - p) log((1 - p) / (1 - q_j)) ]
        cost     = mean_x [ -sum_k (x_k log z_k + (1 - x_k) log(1 - z_k)) ]
                   + sparsity_weight * sparsity

    Unlike the squared error (q_j - p)^2, the KL penalty grows without bound as q_j
    approaches 0 or 1, so its gradient is much stronger far from the target. The code
    must lie strictly inside (0, 1), hence the sigmoid.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 500, sparsity_target: float = 0.1,
                 sparsity_weight: float = 1.0):
        check_positive("n_visible", n_visible, integer=True)
        check_positive("n_hidden", n_hidden, integer=True)
        check_sparsity_target(sparsity_target)
        if not (isinstance(sparsity_weight, (int, float)) and not isinstance(sparsity_weight, bool)
                and 0 <= sparsity_weight < float("inf")):
            raise ValueError(f"sparsity_weight must be >= 0, got {sparsity_weight!r}")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.sparsity_target, self.sparsity_weight = float(sparsity_target), float(sparsity_weight)
        # Small encoder weights (a sixteenth of the sigmoid's usual range): Adam never moves
        # the weights of always-blank border pixels, so whatever noise they start with stays
        # in the filters; starting small keeps the learnt strokes visible.
        self.W = pytensor.shared(init_sigmoid_weights(numpy_rng, n_visible, n_hidden) / 16,
                                 name="W", borrow=True)
        self.b = zeros_shared(n_hidden, "b")
        # The decoder's inputs are all positive codes: Glorot's range without the factor 4.
        self.W2 = pytensor.shared(init_sigmoid_weights(numpy_rng, n_hidden, n_visible) / 4,
                                  name="W2", borrow=True)
        self.b2 = zeros_shared(n_visible, "b2")
        self.x = pt.matrix("x") if input is None else input
        self.params = [self.W, self.b, self.W2, self.b2]

    def named_params(self) -> dict:
        return {"W": self.W, "b": self.b, "W2": self.W2, "b2": self.b2}

    def encode(self, x):
        return pt.sigmoid(pt.dot(x, self.W) + self.b)

    def decoder_logits(self, h):
        return pt.dot(h, self.W2) + self.b2

    def decode(self, h):
        return pt.sigmoid(self.decoder_logits(h))

    def sparsity_loss(self, h):
        """``sum_j KL(p || q_j)`` with ``q_j`` the minibatch mean of code unit j."""
        return pt.sum(kl_divergence(self.sparsity_target, pt.mean(h, axis=0)))

    def get_cost_terms(self, x=None):
        """``(cost, mean reconstruction cross-entropy, sparsity loss)`` of the minibatch."""
        x = self.x if x is None else x
        h = self.encode(x)
        logits = self.decoder_logits(h)
        reconstruction = pt.mean(cross_entropy(x, logits))
        sparsity = self.sparsity_loss(h)
        return reconstruction + self.sparsity_weight * sparsity, reconstruction, sparsity

    def reconstruct(self, x=None):
        return self.decode(self.encode(self.x if x is None else x))
