"""The variational autoencoder (Kingma & Welling, 2014) as a PyTensor graph."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.autoencoder import Autoencoder
from deeptutorial.checks import check_positive, check_symbolic_matrix, random_state
from deeptutorial.losses import cross_entropy
from deeptutorial.nn import elu, gaussian_kl, he_normal, shared_floatX, zeros_shared


class VAE(Autoencoder):
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
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
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
        self.params = []

        def layer(name: str, n_in: int, n_out: int, scale: float):
            # He initialisation (normal, variance scale / n_in); biases at zero.
            W = shared_floatX(he_normal(numpy_rng, n_in, n_out, scale), f"W{name}")
            b = zeros_shared(n_out, f"b{name}")
            self.params += [W, b]
            return W, b

        sizes = [n_visible, *self.hidden_sizes]
        self.encoder = [layer(str(k), a, b, 2.0) for k, (a, b) in
                        enumerate(zip(sizes[:-1], sizes[1:]), start=1)]
        self.mean_layer = layer("_mean", sizes[-1], n_latent, 1.0)
        self.gamma_layer = layer("_gamma", sizes[-1], n_latent, 0.1)
        back = [n_latent, *reversed(self.hidden_sizes), n_visible]
        decoder = [layer(f"_prime{k}", a, b, 2.0 if k < len(back) - 1 else 1.0) for k, (a, b)
                   in enumerate(zip(back[:-1], back[1:]), start=1)]
        self.decoder, self.output_layer = decoder[:-1], decoder[-1]

    def encode_distribution(self, x):
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

    def encode(self, x):
        """The code of ``x``: the mean of q(z|x)."""
        return self.encode_distribution(x)[0]

    def decoder_logits(self, z):
        h = z
        for W, b in self.decoder:
            h = elu(pt.dot(h, W) + b)
        return pt.dot(h, self.output_layer[0]) + self.output_layer[1]

    def decode(self, z):
        """Pixel probabilities ``sigmoid(logits)`` of p(x|z)."""
        return pt.sigmoid(self.decoder_logits(z))

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """The mean negative ELBO ``cost`` (nats per example), its ``reconstruction`` and
        ``latent`` (KL) parts, with one reparameterised draw of ``z`` per example, and the
        generator update that the compiled function must carry."""
        x = self.input_or_default(x)
        mean, gamma = self.encode_distribution(x)
        z, rng_updates = self.sample_code(mean, gamma)
        reconstruction = pt.mean(cross_entropy(x, self.decoder_logits(z)))
        latent = pt.mean(gaussian_kl(mean, gamma))
        return {"cost": reconstruction + latent, "reconstruction": reconstruction,
                "latent": latent}, rng_updates
