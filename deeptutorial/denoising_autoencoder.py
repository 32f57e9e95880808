"""Denoising autoencoders with Gaussian or dropout noise on the input (the textbook's DAE)."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.checks import check_positive
from deeptutorial.dA import init_sigmoid_weights, zeros_shared
from deeptutorial.losses import LOSSES, reconstruction_loss
from deeptutorial.persistence import SavesParams

NOISE_KINDS = ("gaussian", "dropout")


class DenoisingAutoencoder(SavesParams):
    """One-hidden-layer autoencoder trained to undo noise added to its input.

    During training only, the input ``x`` is corrupted into ``x~`` by one of::

        gaussian:  x~ = x + sigma * e,             e ~ N(0, I)
        dropout:   x~ = x * m / (1 - p),           m_k ~ Bernoulli(1 - p)

    (dropout zeroes each pixel with probability ``p`` and rescales the survivors so that
    E[x~] = x). The corrupted input is encoded and decoded with untied weights::

        h = sigmoid(x~ W + b),     z = sigmoid(h W2 + b2)

    and the loss compares ``z`` with the *clean* ``x``: the cross-entropy
    ``-sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]`` or the squared error
    ``sum_k (x_k - z_k)^2``, averaged over the minibatch. At evaluation (``reconstruct``)
    there is no noise: ``z = g(f(x))``.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 500, noise: str = "gaussian",
                 noise_level: float = 0.5, loss: str = "cross_entropy",
                 pytensor_rng: RandomGeneratorSharedVariable | None = None):
        check_positive("n_visible", n_visible, integer=True)
        check_positive("n_hidden", n_hidden, integer=True)
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if noise == "dropout":
            if not (isinstance(noise_level, (int, float)) and not isinstance(noise_level, bool)
                    and 0 <= noise_level < 1):
                raise ValueError(f"dropout noise_level must be in [0, 1), got {noise_level!r}")
        elif not (isinstance(noise_level, (int, float)) and not isinstance(noise_level, bool)
                  and 0 <= noise_level < float("inf")):
            raise ValueError(f"gaussian noise_level must be >= 0, got {noise_level!r}")
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.noise, self.noise_level, self.loss = noise, float(noise_level), loss
        if pytensor_rng is None:
            pytensor_rng = shared_rng(seed=numpy_rng.randint(2 ** 30), name="noise_rng")
        self.pytensor_rng = pytensor_rng
        self.W = pytensor.shared(init_sigmoid_weights(numpy_rng, n_visible, n_hidden), name="W",
                                 borrow=True)
        self.b = zeros_shared(n_hidden, "b")
        # The decoder's inputs are all positive codes: Glorot's range without the factor 4.
        self.W2 = pytensor.shared(init_sigmoid_weights(numpy_rng, n_hidden, n_visible) / 4,
                                  name="W2", borrow=True)
        self.b2 = zeros_shared(n_visible, "b2")
        self.x = pt.matrix("x") if input is None else input
        self.params = [self.W, self.b, self.W2, self.b2]

    def named_params(self) -> dict:
        return {"W": self.W, "b": self.b, "W2": self.W2, "b2": self.b2}

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
        keep = 1 - self.noise_level
        next_rng, u = rng.uniform(0, 1, size=x.shape)
        noisy = pt.switch(pt.lt(u, keep), x / keep, 0)
        return noisy.astype(x.dtype), [(rng, next_rng)]

    def encode(self, x):
        return pt.sigmoid(pt.dot(x, self.W) + self.b)

    def decoder_logits(self, h):
        return pt.dot(h, self.W2) + self.b2

    def decode(self, h):
        return pt.sigmoid(self.decoder_logits(h))

    def reconstruct(self, x=None):
        """The evaluation graph: no noise, ``z = decode(encode(x))``."""
        return self.decode(self.encode(self.x if x is None else x))

    def training_cost(self):
        """Mean loss of the noisy minibatch ``self.x`` against the clean one, and the
        generator update the compiled training function must carry."""
        noisy, rng_updates = self.add_noise(self.x)
        logits = self.decoder_logits(self.encode(noisy))
        return pt.mean(reconstruction_loss(self.loss, self.x, logits)), rng_updates

    def evaluation_cost(self):
        """Mean loss of the clean minibatch, without noise."""
        logits = self.decoder_logits(self.encode(self.x))
        return pt.mean(reconstruction_loss(self.loss, self.x, logits))
