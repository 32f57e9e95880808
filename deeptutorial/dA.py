"""The denoising autoencoder of the dA tutorial, as a PyTensor graph."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.checks import check_fraction, check_positive
from deeptutorial.losses import LOSSES, reconstruction_loss
from deeptutorial.persistence import SavesParams


def init_sigmoid_weights(numpy_rng: np.random.RandomState, n_in: int, n_out: int) -> np.ndarray:
    """Uniform in +-4 sqrt(6 / (n_in + n_out)): Glorot's range, times 4 for the sigmoid."""
    bound = 4 * np.sqrt(6.0 / (n_in + n_out))
    return np.asarray(numpy_rng.uniform(low=-bound, high=bound, size=(n_in, n_out)),
                      dtype=pytensor.config.floatX)


def zeros_shared(n: int, name: str) -> pytensor.compile.SharedVariable:
    return pytensor.shared(np.zeros(n, dtype=pytensor.config.floatX), name=name, borrow=True)


class dA(SavesParams):
    """Denoising autoencoder with tied weights (Vincent et al., 2008).

    An input row ``x`` in [0, 1]^d is first corrupted into ``x~`` by zeroing each
    component with probability ``corruption_level``, then encoded and decoded::

        y = sigmoid(x~ W + b)            (hidden code, d' units)
        z = sigmoid(y W' + b'),  W' = W^T (reconstruction, tied weights)

    and trained to reconstruct the *clean* ``x``, by default with the cross-entropy
    ``L(x, z) = -sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]`` (or the squared error
    ``||x - z||^2``), averaged over the minibatch.

    ``W``, ``bhid`` and ``bvis`` may be existing shared variables: the dA then trains
    those very variables, which is how the SdA shares weights with its MLP layers.
    """

    def __init__(self, numpy_rng: np.random.RandomState, pytensor_rng: RandomGeneratorSharedVariable | None = None,
                 input: pt.TensorVariable | None = None, n_visible: int = 784, n_hidden: int = 500,
                 W=None, bhid=None, bvis=None, loss: str = "cross_entropy"):
        check_positive("n_visible", n_visible, integer=True)
        check_positive("n_hidden", n_hidden, integer=True)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        self.loss = loss
        # The tutorial draws the noise seed from numpy_rng *before* W: keep that order.
        if pytensor_rng is None:
            pytensor_rng = shared_rng(seed=numpy_rng.randint(2 ** 30), name="noise_rng")
        if W is None:
            W = pytensor.shared(init_sigmoid_weights(numpy_rng, n_visible, n_hidden),
                                name="W", borrow=True)
        if bvis is None:
            bvis = zeros_shared(n_visible, "b_prime")
        if bhid is None:
            bhid = zeros_shared(n_hidden, "b")
        self.W = W
        self.b = bhid  # hidden bias
        self.b_prime = bvis  # visible bias
        self.W_prime = self.W.T
        self.pytensor_rng = pytensor_rng
        self.x = pt.matrix("x") if input is None else input
        self.params = [self.W, self.b, self.b_prime]

    def named_params(self) -> dict:
        return {"W": self.W, "b": self.b, "b_prime": self.b_prime}

    def get_corrupted_input(self, input, corruption_level):
        """Zero each entry of ``input`` with probability ``corruption_level`` (the
        tutorial's method). PyTensor 3 random generators advance only through
        explicit updates: use ``corrupt`` to get them too."""
        return self.corrupt(input, corruption_level)[0]

    def corrupt(self, input, corruption_level):
        """The corrupted input and the noise generator's update, ``[(rng, next_rng)]``.

        A Python 0 returns ``input`` itself and no update: a mask of ones would
        change nothing but cost a random draw per pixel.
        """
        if isinstance(corruption_level, (int, float)):
            check_fraction("corruption_level", corruption_level)
            if corruption_level == 0:
                return input, []
        # A Bernoulli(1 - level) mask drawn as ``u < 1 - level`` with u ~ U[0, 1): the
        # same distribution as binomial(n=1), which is several times slower per pixel.
        next_rng, u = self.pytensor_rng.uniform(0, 1, size=input.shape)
        keep = pt.lt(u, 1 - corruption_level)
        return pt.switch(keep, input, 0).astype(input.dtype), [(self.pytensor_rng, next_rng)]

    def get_hidden_values(self, input):
        return pt.sigmoid(pt.dot(input, self.W) + self.b)

    def get_reconstruction_logits(self, hidden):
        """``y W' + b'``, the reconstruction before its sigmoid."""
        return pt.dot(hidden, self.W_prime) + self.b_prime

    def get_reconstructed_input(self, hidden):
        return pt.sigmoid(self.get_reconstruction_logits(hidden))

    def get_cost_updates(self, corruption_level, learning_rate):
        """Mean reconstruction cost of the minibatch ``self.x`` and one SGD step on ``params``."""
        if isinstance(learning_rate, (int, float)):
            check_positive("learning_rate", learning_rate)
        tilde_x, rng_updates = self.corrupt(self.x, corruption_level)
        # The loss reads z = get_reconstructed_input(y) through its logits (losses.py).
        logits = self.get_reconstruction_logits(self.get_hidden_values(tilde_x))
        cost = pt.mean(reconstruction_loss(self.loss, self.x, logits))
        grads = pytensor.grad(cost, self.params)
        updates = [(p, p - learning_rate * g) for p, g in zip(self.params, grads)]
        return cost, updates + rng_updates
