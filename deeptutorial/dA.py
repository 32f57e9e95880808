"""The denoising autoencoder of the dA tutorial, as a PyTensor graph."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.autoencoder import TiedAutoencoder
from deeptutorial.checks import check_fraction, is_number
from deeptutorial.optimizers import sgd


class dA(TiedAutoencoder):
    """Denoising autoencoder with tied weights (Vincent et al., 2008).

    An input row ``x`` in [0, 1]^d is first corrupted into ``x~`` by zeroing each
    component with probability ``corruption_level``, then encoded and decoded::

        y = sigmoid(x~ W + b)            (hidden code, d' units)
        z = sigmoid(y W' + b'),  W' = W^T (reconstruction, tied weights)

    and trained to reconstruct the *clean* ``x``, by default with the cross-entropy
    ``L(x, z) = -sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]`` (or the squared error
    ``||x - z||^2``), averaged over the minibatch.

    The tutorial's arguments: ``numpy_rng`` draws the weights (and, first, the seed of the
    noise generator when ``pytensor_rng``, the tutorial's ``theano_rng``, is not given);
    ``input`` is the symbolic minibatch; ``W``, ``bhid`` and ``bvis`` may be existing shared
    variables, which the dA then trains itself (how the SdA shares weights with its MLP).
    ``corruption_level`` is the level ``cost_terms`` uses; ``get_cost_updates`` takes its
    own, as in the tutorial.
    """

    noisy = True

    def __init__(self, numpy_rng: np.random.RandomState,
                 pytensor_rng: RandomGeneratorSharedVariable | None = None,
                 input: pt.TensorVariable | None = None, n_visible: int = 784,
                 n_hidden: int = 500, W=None, bhid=None, bvis=None,
                 loss: str = "cross_entropy", corruption_level: float = 0.0):
        check_fraction("corruption_level", corruption_level)
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden, W=W,
                         bhid=bhid, bvis=bvis, loss=loss, pytensor_rng=pytensor_rng)
        self.corruption_level = corruption_level

    def corrupt(self, input, corruption_level):
        """The corrupted input and the noise generator's update, ``[(rng, next_rng)]``.

        A Python 0 returns ``input`` itself and no update: a mask of ones would
        change nothing but cost a random draw per pixel.
        """
        if is_number(corruption_level):
            check_fraction("corruption_level", corruption_level)
            if corruption_level == 0:
                return input, []
        # A Bernoulli(1 - level) mask drawn as ``u < 1 - level`` with u ~ U[0, 1): the
        # same distribution as binomial(n=1), which is several times slower per pixel.
        next_rng, u = self.pytensor_rng.uniform(0, 1, size=input.shape)
        keep = pt.lt(u, 1 - corruption_level)
        return pt.switch(keep, input, 0).astype(input.dtype), [(self.pytensor_rng, next_rng)]

    def get_corrupted_input(self, input, corruption_level):
        """Zero each entry of ``input`` with probability ``corruption_level`` (the
        tutorial's method). PyTensor 3 random generators advance only through
        explicit updates: use ``corrupt`` to get them too."""
        return self.corrupt(input, corruption_level)[0]

    def cost_terms(self, x=None, corruption_level=None) -> tuple[dict, list]:
        """Reconstruct the clean ``x`` from the code of its corrupted copy."""
        x = self.input_or_default(x)
        level = self.corruption_level if corruption_level is None else corruption_level
        tilde_x, rng_updates = self.corrupt(x, level)
        return {"cost": self.reconstruction_cost(x, self.encode(tilde_x))}, rng_updates

    def get_cost_updates(self, corruption_level, learning_rate):
        """The tutorial's method: the mean reconstruction cost of the minibatch ``self.x``
        and the updates of one SGD step (and of the noise generator)."""
        terms, rng_updates = self.cost_terms(corruption_level=corruption_level)
        return terms["cost"], sgd(terms["cost"], self.params, learning_rate) + rng_updates
