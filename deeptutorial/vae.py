"""The variational autoencoder (Kingma & Welling, 2014) as a PyTensor graph."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.checks import check_positive
from deeptutorial.dA import zeros_shared
from deeptutorial.losses import cross_entropy
from deeptutorial.persistence import SavesParams


def elu(a):
    """The exponential linear unit: ``a`` where positive, ``exp(a) - 1`` elsewhere."""
    return pt.switch(a > 0, a, pt.expm1(pt.minimum(a, 0)))


def latent_loss(mean, gamma):
    """Per-example KL divergence of N(mean, exp(gamma)) from N(0, I), a vector:
    ``0.5 * sum_j (exp(gamma_j) + mean_j^2 - 1 - gamma_j)``."""
    return 0.5 * pt.sum(pt.exp(gamma) + mean ** 2 - 1 - gamma, axis=1)


class VAE(SavesParams):
    """Variational autoencoder with a Gaussian code and a Bernoulli decoder.

    The encoder (ELU hidden layers) maps an input row ``x`` in [0, 1]^d to the mean
    ``mu`` and ``gamma = log(sigma^2)`` of a diagonal Gaussian q(z|x) over a code of
    ``n_latent`` dimensions. A code is drawn by the reparameterisation trick::

        z = mu + exp(gamma / 2) * eps,        eps ~ N(0, I)

    so that the draw is a differentiable function of the parameters. The decoder (ELU
    hidden layers, sigmoid output) maps ``z`` back to pixel probabilities ``p(x|z)``.
    The cost is the negative evidence lower bound, in nats per example::

        -ELBO(x) = -log p(x|z) + KL(q(z|x) || N(0, I))
                 = sum_k CE(x_k, sigmoid(logit_k)) + 0.5 sum_j (exp(gamma_j) + mu_j^2 - 1 - gamma_j)

    averaged over the minibatch (one ``eps`` per example). New digits come from
    decoding ``z ~ N(0, I)``.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, hidden_sizes: tuple[int, ...] = (500, 500),
                 n_latent: int = 20, pytensor_rng: RandomGeneratorSharedVariable | None = None):
        check_positive("n_visible", n_visible, integer=True)
        check_positive("n_latent", n_latent, integer=True)
        for size in hidden_sizes:
            check_positive("hidden size", size, integer=True)
        self.n_visible, self.n_latent = n_visible, n_latent
        self.hidden_sizes = tuple(hidden_sizes)
        if pytensor_rng is None:
            pytensor_rng = shared_rng(seed=numpy_rng.randint(2 ** 30), name="vae_rng")
        self.pytensor_rng = pytensor_rng
        self.x = pt.matrix("x") if input is None else input
        self._named = {}

        def layer(name: str, n_in: int, n_out: int, scale: float):
            # He initialisation (normal, std sqrt(scale / n_in)); biases at zero.
            values = numpy_rng.normal(0, np.sqrt(scale / n_in), (n_in, n_out))
            W = pytensor.shared(np.asarray(values, dtype=pytensor.config.floatX),
                                name=f"W_{name}", borrow=True)
            b = zeros_shared(n_out, f"b_{name}")
            self._named[f"W_{name}"], self._named[f"b_{name}"] = W, b
            return W, b

        sizes = [n_visible, *self.hidden_sizes]
        self.encoder = [layer(f"enc{i}", a, b, 2.0) for i, (a, b) in
                        enumerate(zip(sizes[:-1], sizes[1:]))]
        self.mean_layer = layer("mean", sizes[-1], n_latent, 1.0)
        self.gamma_layer = layer("gamma", sizes[-1], n_latent, 0.1)
        back = [n_latent, *reversed(self.hidden_sizes)]
        self.decoder = [layer(f"dec{i}", a, b, 2.0) for i, (a, b) in
                        enumerate(zip(back[:-1], back[1:]))]
        self.output_layer = layer("out", back[-1], n_visible, 1.0)
        self.params = list(self._named.values())

    def named_params(self) -> dict:
        return dict(self._named)

    def encode(self, x):
        """``(mean, gamma)`` of q(z|x), ``gamma = log(sigma^2)``."""
        h = x
        for W, b in self.encoder:
            h = elu(pt.dot(h, W) + b)
        return pt.dot(h, self.mean_layer[0]) + self.mean_layer[1], \
            pt.dot(h, self.gamma_layer[0]) + self.gamma_layer[1]

    def sample_code(self, mean, gamma):
        """``z = mean + exp(gamma / 2) * eps`` and the generator update ``[(rng, next_rng)]``."""
        next_rng, eps = self.pytensor_rng.normal(0, 1, size=mean.shape)
        eps = eps.astype(mean.dtype)
        return mean + pt.exp(0.5 * gamma) * eps, [(self.pytensor_rng, next_rng)]

    def decoder_logits(self, z):
        h = z
        for W, b in self.decoder:
            h = elu(pt.dot(h, W) + b)
        return pt.dot(h, self.output_layer[0]) + self.output_layer[1]

    def decode(self, z):
        """Pixel probabilities ``sigmoid(logits)`` of p(x|z)."""
        return pt.sigmoid(self.decoder_logits(z))

    def neg_elbo_terms(self, x=None):
        """Per-example reconstruction and latent losses (vectors), with one reparameterised
        draw of ``z``, and the generator update that the compiled function must carry."""
        x = self.x if x is None else x
        mean, gamma = self.encode(x)
        z, rng_updates = self.sample_code(mean, gamma)
        return cross_entropy(x, self.decoder_logits(z)), latent_loss(mean, gamma), \
            rng_updates

    def cost(self, x=None):
        """Mean negative ELBO of the minibatch (nats per example) and the generator update."""
        reconstruction, latent, rng_updates = self.neg_elbo_terms(x)
        return pt.mean(reconstruction + latent), rng_updates

    def reconstruct(self, x=None):
        """Deterministic reconstruction: decode the mean code (no noise)."""
        x = self.x if x is None else x
        return self.decode(self.encode(x)[0])
