"""The sparse autoencoder: a KL-divergence penalty on the mean activation of the code."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from deeptutorial.autoencoder import UntiedAutoencoder
from deeptutorial.checks import check_non_negative, check_open_fraction
from deeptutorial.nn import bernoulli_kl


class SparseAutoencoder(UntiedAutoencoder):
    """Autoencoder whose sigmoid code is pushed to be active only a fraction of the time.

    With ``h = sigmoid(x W + b)`` (the code) and ``z = sigmoid(h W_prime + b_prime)`` (the
    reconstruction, untied weights), let ``q_j`` be the mean activation of code unit j
    over the minibatch. Each unit should fire with the target probability ``p``; the
    penalty is the KL divergence of Bernoulli(p) from Bernoulli(q_j), summed over units::

        sparsity = sum_j [ p log(p / q_j) + (1 - p) log((1 - p) / (1 - q_j)) ]
        cost     = mean_x [ -sum_k (x_k log z_k + (1 - x_k) log(1 - z_k)) ]
                   + sparsity_weight * sparsity

    Unlike the squared error (q_j - p)^2, the KL penalty grows without bound as q_j
    approaches 0 or 1, so its gradient is much stronger far from the target. The code
    must lie strictly inside (0, 1), hence the sigmoid.

    The encoder starts at a sixteenth of the sigmoid's usual range: Adam never moves the
    weights of always-blank border pixels, so whatever noise they start with stays in the
    filters; starting small keeps the learnt strokes visible.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 500, sparsity_target: float = 0.1,
                 sparsity_weight: float = 1.0):
        check_open_fraction("sparsity_target", sparsity_target)
        check_non_negative("sparsity_weight", sparsity_weight)
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         encoder_scale=1 / 16)
        self.sparsity_target, self.sparsity_weight = float(sparsity_target), float(sparsity_weight)

    def sparsity_loss(self, h):
        """``sum_j KL(p || q_j)`` with ``q_j`` the minibatch mean of code unit j."""
        return pt.sum(bernoulli_kl(self.sparsity_target, pt.mean(h, axis=0)))

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """``cost``, its mean ``reconstruction`` cross-entropy and the ``sparsity`` loss."""
        x = self.input_or_default(x)
        h = self.encode(x)
        reconstruction = self.reconstruction_cost(x, h)
        sparsity = self.sparsity_loss(h)
        return {"cost": reconstruction + self.sparsity_weight * sparsity,
                "reconstruction": reconstruction, "sparsity": sparsity}, []
