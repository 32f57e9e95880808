"""Denoising autoencoders with Gaussian, dropout or salt-and-pepper noise on the input (the
textbook's DAE)."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.autoencoder import UntiedAutoencoder
from deeptutorial.checks import check_choice, check_non_negative

NOISE_KINDS = ("gaussian", "dropout", "salt_and_pepper")


class DenoisingAutoencoder(UntiedAutoencoder):
    """One-hidden-layer autoencoder trained to undo noise added to its input.

    During training only, the input ``x`` is corrupted into ``x~`` by one of::

        gaussian:         x~ = x + sigma * e,             e ~ N(0, I)
        dropout:          x~ = x * m / (1 - p),           m_k ~ Bernoulli(1 - p)
        salt_and_pepper:  x~_k = x_k with probability 1 - p, else 0 or 1 (even odds)

    (dropout zeroes each pixel with probability ``p`` and rescales the survivors so that
    E[x~] = x; salt-and-pepper, the noise of the generative stochastic networks, replaces
    each pixel with probability ``p`` by a fair coin flip). The corrupted input is encoded
    and decoded with untied weights::

        h = sigmoid(x~ W + b),     z = sigmoid(h W_prime + b_prime)

    and the loss compares ``z`` with the *clean* ``x``: the cross-entropy
    ``-sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]`` or the squared error
    ``sum_k (x_k - z_k)^2``, averaged over the minibatch. At evaluation (``reconstruct``)
    there is no noise: ``z = g(f(x))``.
    """

    noisy = True

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 500, noise: str = "gaussian",
                 noise_level: float = 0.5, loss: str = "cross_entropy",
                 pytensor_rng: RandomGeneratorSharedVariable | None = None):
        check_choice("noise", noise, NOISE_KINDS)
        check_non_negative(f"{noise} noise_level", noise_level)
        if noise == "dropout" and not noise_level < 1:
            raise ValueError(f"dropout noise_level must be in [0, 1), got {noise_level!r}")
        if noise == "salt_and_pepper" and not noise_level <= 1:
            raise ValueError(f"salt_and_pepper noise_level must be in [0, 1], got "
                             f"{noise_level!r}")
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         loss=loss, pytensor_rng=pytensor_rng)
        self.noise, self.noise_level = noise, float(noise_level)

    def add_noise(self, x, rng: RandomGeneratorSharedVariable | None = None):
        """The noisy input and the generator update ``[(rng, next_rng)]`` (training only).

        ``rng`` (default: the model's own generator) lets a caller draw noise for display
        from a separate stream, leaving the training stream alone.
        """
        if self.noise_level == 0:
            return x, []
        rng = self.pytensor_rng if rng is None else rng
        if self.noise == "gaussian":
            next_rng, e = rng.normal(0, 1, size=x.shape)
            return (x + self.noise_level * e).astype(x.dtype), [(rng, next_rng)]
        if self.noise == "salt_and_pepper":
            # one uniform draw per pixel decides both: u < p/2 -> 0, p/2 <= u < p -> 1
            next_rng, u = rng.uniform(0, 1, size=x.shape)
            p = self.noise_level
            noisy = pt.switch(pt.lt(u, p), pt.ge(u, p / 2), x)
            return noisy.astype(x.dtype), [(rng, next_rng)]
        keep = 1 - self.noise_level
        next_rng, u = rng.uniform(0, 1, size=x.shape)
        noisy = pt.switch(pt.lt(u, keep), x / keep, 0)
        return noisy.astype(x.dtype), [(rng, next_rng)]

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """Mean loss of the noisy minibatch's reconstruction against the clean one, and the
        generator update the compiled training function must carry."""
        x = self.input_or_default(x)
        noisy, rng_updates = self.add_noise(x)
        return {"cost": self.reconstruction_cost(x, self.encode(noisy))}, rng_updates

    def evaluation_cost(self, x=None):
        """Mean loss of the clean minibatch, without noise."""
        x = self.input_or_default(x)
        return self.reconstruction_cost(x, self.encode(x))
