"""The adversarial autoencoder (Makhzani et al., 2015) as a PyTensor graph."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.autoencoder import Autoencoder
from deeptutorial.checks import check_choice, check_positive, check_symbolic_matrix, random_state
from deeptutorial.losses import cross_entropy
from deeptutorial.nn import dense_layers, mlp
from deeptutorial.optimizers import adam

PRIORS = ("mixture", "normal")


def mixture_means(n_components: int, code_size: int, radius: float) -> np.ndarray:
    """Means of the mixture prior: evenly spaced on a circle of ``radius`` in the code's
    first two dimensions (zero in any others)."""
    angles = 2 * np.pi * np.arange(n_components) / n_components
    means = np.zeros((n_components, code_size))
    means[:, 0], means[:, 1] = radius * np.cos(angles), radius * np.sin(angles)
    return means


class AdversarialAutoencoder(Autoencoder):
    """An autoencoder whose codes are made to look like draws from a chosen prior p(z).

    A deterministic encoder ``z = q(x)`` (ReLU hidden layers, linear code) and a decoder
    ``x' = sigmoid(g(z))`` form an ordinary autoencoder. A discriminator ``D(z)`` (ReLU hidden
    layers, one logit) learns to tell codes of real digits from samples of the prior, and the
    encoder learns to fool it, so that the aggregated posterior q(z) = E_x[q(z|x)] comes to
    match p(z). Training alternates three phases on every minibatch, each with its own
    parameters and optimiser::

        reconstruction  (encoder, decoder):  mean_x CE(x, g(q(x)))
        discrimination  (discriminator):     mean softplus(-D(z_p)) + mean softplus(D(q(x)))
        generation      (encoder):           mean softplus(-D(q(x)))

    with ``z_p ~ p(z)`` and ``softplus(-l) = -log sigmoid(l)``: the discriminator minimises the
    cross-entropy of telling prior samples (label 1) from codes (label 0); the encoder
    minimises ``-log D(q(x))``, the non-saturating form of the generator's loss of Goodfellow
    et al. (2014). Once trained, the decoder is a generative model: ``g(z_p)`` for
    ``z_p ~ p(z)`` is a new digit.

    Priors: ``"normal"`` is N(0, I); ``"mixture"`` is an equal mixture of ``n_components``
    Gaussians of standard deviation ``component_std`` whose means lie on a circle of
    ``radius`` in the first two code dimensions (the paper's 2-D mixture of 10 Gaussians).
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, hidden_sizes: tuple[int, ...] = (1000, 1000),
                 code_size: int = 2, prior: str = "mixture", n_components: int = 10,
                 radius: float = 4.0, component_std: float = 0.5,
                 discriminator_sizes: tuple[int, ...] = (1000, 1000),
                 pytensor_rng: RandomGeneratorSharedVariable | None = None):
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
        check_positive("n_visible", n_visible, integer=True)
        check_positive("code_size", code_size, integer=True)
        check_choice("prior", prior, PRIORS)
        for size in (*hidden_sizes, *discriminator_sizes):
            check_positive("hidden size", size, integer=True)
        if prior == "mixture":
            check_positive("n_components", n_components, integer=True)
            check_positive("radius", radius)
            check_positive("component_std", component_std)
            if code_size < 2:
                raise ValueError(f"the mixture prior lies in two dimensions: code_size must be "
                                 f">= 2, got {code_size}")
        self.n_visible, self.code_size, self.prior = n_visible, code_size, prior
        self.n_components, self.radius, self.component_std = n_components, radius, component_std
        self.hidden_sizes = tuple(hidden_sizes)
        if pytensor_rng is None:
            pytensor_rng = shared_rng(seed=numpy_rng.randint(2 ** 30), name="aae_rng")
        self.pytensor_rng = pytensor_rng
        self.x = pt.matrix("x") if input is None else input

        self.encoder = dense_layers(numpy_rng, [n_visible, *hidden_sizes, code_size], "")
        self.decoder = dense_layers(
            numpy_rng, [code_size, *reversed(self.hidden_sizes), n_visible], "_prime")
        self.discriminator = dense_layers(numpy_rng, [code_size, *discriminator_sizes, 1],
                                          "_disc")
        self.encoder_params = [p for layer in self.encoder for p in layer]
        self.decoder_params = [p for layer in self.decoder for p in layer]
        self.discriminator_params = [p for layer in self.discriminator for p in layer]
        self.params = self.encoder_params + self.decoder_params + self.discriminator_params

    def encode(self, x):
        """The code ``q(x)``."""
        return mlp(x, self.encoder)

    def decoder_logits(self, z):
        return mlp(z, self.decoder)

    def decode(self, z):
        """Pixel probabilities ``sigmoid(g(z))``."""
        return pt.sigmoid(self.decoder_logits(z))

    def discriminate(self, z):
        """The discriminator's logit for each code row: high means "drawn from the prior"."""
        return mlp(z, self.discriminator)[:, 0]

    def sample_prior(self, n, rng: RandomGeneratorSharedVariable | None = None
                     ) -> tuple[pt.TensorVariable, list]:
        """``n`` (symbolic or int) draws from the prior and the generator update; ``rng``
        (default: the model's own generator) lets a caller draw from a separate stream."""
        rng = self.pytensor_rng if rng is None else rng
        floatX = pytensor.config.floatX
        next_rng, eps = rng.normal(0, 1, size=(n, self.code_size))
        eps = eps.astype(floatX)
        if self.prior == "normal":
            return eps, [(rng, next_rng)]
        last_rng, component = next_rng.integers(0, self.n_components, size=(n,))
        means = pt.constant(mixture_means(self.n_components, self.code_size, self.radius)
                            .astype(floatX))
        return means[component] + self.component_std * eps, [(rng, last_rng)]

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """The three phases' costs (``cost`` is the reconstruction's) and the generator update
        of the prior draw the discriminator compares the codes with."""
        x = self.input_or_default(x)
        code = self.encode(x)
        reconstruction = pt.mean(cross_entropy(x, self.decoder_logits(code)))
        z_prior, rng_updates = self.sample_prior(x.shape[0])
        code_logit, prior_logit = self.discriminate(code), self.discriminate(z_prior)
        discriminator = pt.mean(pt.softplus(-prior_logit)) + pt.mean(pt.softplus(code_logit))
        generator = pt.mean(pt.softplus(-code_logit))
        return {"cost": reconstruction, "reconstruction": reconstruction,
                "discriminator": discriminator, "generator": generator}, rng_updates

    def phases(self, x=None, learning_rate: float | pt.TensorVariable = 1e-3,
               discriminator_learning_rate: float | pt.TensorVariable = 2e-4
               ) -> dict[str, tuple]:
        """The three phases as ``{name: (cost, updates)}``, in training order, each updating
        only its own parameters with an Adam of its own: reconstruction (encoder and decoder)
        and generation (encoder) at ``learning_rate``, discrimination (discriminator) at
        ``discriminator_learning_rate``; the two adversarial phases with ``beta1 = 0.5``, as
        GANs are commonly trained. Only the discrimination phase draws from the prior. A step
        size may be a shared variable, which a schedule can then lower between epochs.

        The encoder answers to two phases that pull apart: reconstruction spreads the codes
        out, generation draws them into the prior. Adam moves each parameter by about its
        step size whatever the gradient's scale, so a generation step smaller than the
        reconstruction step loses that contest: the codes drift out of the prior and the
        discriminator wins ever more easily. Equal steps keep them together."""
        terms, rng_updates = self.cost_terms(x)
        return {
            "reconstruction": (terms["reconstruction"], adam(
                terms["reconstruction"], self.encoder_params + self.decoder_params,
                learning_rate=learning_rate)),
            "discrimination": (terms["discriminator"], adam(
                terms["discriminator"], self.discriminator_params,
                learning_rate=discriminator_learning_rate, beta1=0.5) + rng_updates),
            "generation": (terms["generator"], adam(
                terms["generator"], self.encoder_params, learning_rate=learning_rate,
                beta1=0.5)),
        }
