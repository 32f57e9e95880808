"""The denoising autoencoder as a generative model: its Markov chain and walkback training
(Bengio, Yao, Alain & Vincent, 2013; the generative stochastic networks of Bengio et al., 2014).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.checks import check_positive
from deeptutorial.denoising_autoencoder import DenoisingAutoencoder
from deeptutorial.losses import cross_entropy


class GenerativeDenoisingAutoencoder(DenoisingAutoencoder):
    """A denoising autoencoder read as the transition operator of a Markov chain.

    A denoising autoencoder trained with corruption ``C(x~ | x)`` learns ``P(x | x~)``, here a
    product of Bernoullis with means ``z = sigmoid(s(x~ W + b) W_prime + b_prime)``. Bengio et
    al. (2013) show that alternating the two,

        x~_t ~ C(x~ | x_t),        x_{t+1} ~ P(x | x~_t),

    is a Markov chain whose stationary distribution estimates the data distribution, the
    better the more faithfully ``P(x | x~)`` is learnt. Samples are the chain's states; the
    means ``z`` of each step are what the images and the Parzen estimate show.

    Walkback training (``walkback = k``) puts the model where its chain goes wrong: from each
    training digit ``x`` it runs ``k`` steps of its own chain and asks every step to
    reconstruct the *original* ``x``::

        cost = (1/k) sum_{t<k} mean_x CE(x, z_t),   z_t = P(x | C(x_t)),  x_0 = x,
                                                    x_{t+1} ~ Bernoulli(z_t)

    (the samples ``x_t`` are treated as data: no gradient flows through a draw). ``walkback
    = 1`` is the ordinary denoising autoencoder. The default corruption is the GSN papers':
    salt-and-pepper noise on 40% of the pixels.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 1000, noise: str = "salt_and_pepper",
                 noise_level: float = 0.4, walkback: int = 1,
                 pytensor_rng: RandomGeneratorSharedVariable | None = None):
        check_positive("walkback", walkback, integer=True)
        check_positive(f"{noise} noise_level (the chain needs noise)", noise_level)
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         noise=noise, noise_level=noise_level, loss="cross_entropy",
                         pytensor_rng=pytensor_rng)
        self.walkback = walkback

    def _step(self, x, rng, sample: bool):
        """One chain step from ``x`` with generator variable ``rng``: the logits of
        ``P(x | C(x))``, a Bernoulli draw from them (None unless ``sample``), and the next
        generator variable."""
        noisy, ((_, rng),) = self.add_noise(x, rng)
        logits = self.decoder_logits(self.encode(noisy))
        if not sample:
            return logits, None, rng
        # u < z is a Bernoulli(z) draw; drawn this way the generator's next state does not
        # depend on z, so no gradient is asked of the random draw
        rng, u = rng.uniform(0, 1, size=x.shape)
        return logits, pt.lt(u, pt.sigmoid(logits)).astype(x.dtype), rng

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """The walkback cost (``cost``), the first step's ``reconstruction`` (the plain
        denoising cost), and the generator update of every draw."""
        x = self.input_or_default(x)
        state, rng, losses = x, self.pytensor_rng, []
        for t in range(self.walkback):
            logits, state, rng = self._step(state, rng, sample=t + 1 < self.walkback)
            losses.append(pt.mean(cross_entropy(x, logits)))
            if state is not None:
                state = disconnected_grad(state)
        cost = losses[0] if len(losses) == 1 else pt.add(*losses) / len(losses)
        return {"cost": cost, "reconstruction": losses[0]}, [(self.pytensor_rng, rng)]

    def transition(self, x, rng: RandomGeneratorSharedVariable | None = None
                   ) -> tuple[pt.TensorVariable, pt.TensorVariable, list]:
        """One step of the chain from the rows of ``x``: the means ``P(x | C(x))``, the next
        state drawn from them, and the generator update; ``rng`` (default: the model's own
        generator) lets sampling run on a stream apart from training's."""
        shared = self.pytensor_rng if rng is None else rng
        logits, state, next_rng = self._step(x, shared, sample=True)
        return pt.sigmoid(logits), state, [(shared, next_rng)]


def run_chain(transition: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
              start: np.ndarray, n_steps: int) -> np.ndarray:
    """Run parallel chains from the rows of ``start`` for ``n_steps`` steps of
    ``transition(state) -> (means, next_state)`` (a compiled ``transition``); returns the
    means of every step, shape ``(n_steps, len(start), d)``."""
    check_positive("chain length n_steps", n_steps, integer=True)
    state, means = start, []
    for _ in range(n_steps):
        mean, state = transition(state)
        means.append(mean)
    return np.stack(means)
