"""The contractive autoencoder of the Theano tutorials (Rifai et al., 2011), as a PyTensor graph."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from deeptutorial.autoencoder import TiedAutoencoder
from deeptutorial.checks import check_non_negative
from deeptutorial.optimizers import sgd


class cA(TiedAutoencoder):
    """Contractive autoencoder with tied weights.

    An input row ``x`` in [0, 1]^d is encoded and decoded as in the dA, without noise::

        h = sigmoid(x W + b)             (code, d' units)
        z = sigmoid(h W^T + b')          (reconstruction)

    The Jacobian of the code with respect to the input is ``dh_j/dx_i = h_j (1 - h_j) W_ij``,
    so its squared Frobenius norm has the closed form::

        ||J(x)||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ij^2

    and the cost, averaged over the minibatch, is

        cost = mean[ -sum_k (x_k log z_k + (1 - x_k) log(1 - z_k)) ]
               + contraction_level * mean[ ||J(x)||_F^2 ]

    The penalty makes the code insensitive to small moves of the input in directions the
    data do not vary along, while the reconstruction keeps it sensitive along the data.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 500, W=None, bhid=None, bvis=None,
                 contraction_level: float = 0.1):
        check_non_negative("contraction_level", contraction_level)
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden, W=W,
                         bhid=bhid, bvis=bvis)
        self.contraction_level = contraction_level

    def get_jacobian(self, hidden):
        """The full Jacobians ``dh/dx``, shape (batch, n_visible, n_hidden); for checks and
        small models (the cost uses ``jacobian_norm2``, which never builds them)."""
        return (hidden * (1 - hidden)).dimshuffle(0, "x", 1) * self.W.dimshuffle("x", 0, 1)

    def jacobian_norm2(self, hidden):
        """Per-example squared Frobenius norm of dh/dx (a vector), in closed form."""
        return pt.dot((hidden * (1 - hidden)) ** 2, pt.sum(self.W ** 2, axis=0))

    def cost_terms(self, x=None, contraction_level=None) -> tuple[dict, list]:
        """``cost``, its ``reconstruction`` part and the mean squared Jacobian norm
        ``jacobian``; no noise, so no updates."""
        level = self.contraction_level if contraction_level is None else contraction_level
        if isinstance(level, (int, float)):
            check_non_negative("contraction_level", level)
        x = self.input_or_default(x)
        hidden = self.encode(x)
        reconstruction = self.reconstruction_cost(x, hidden)
        jacobian = pt.mean(self.jacobian_norm2(hidden))
        return {"cost": reconstruction + level * jacobian, "reconstruction": reconstruction,
                "jacobian": jacobian}, []

    def get_cost_updates(self, contraction_level, learning_rate):
        """The tutorial's method: ``([cost, reconstruction, jacobian], updates)`` of one SGD
        step on ``params``."""
        terms, _ = self.cost_terms(contraction_level=contraction_level)
        outputs = [terms["cost"], terms["reconstruction"], terms["jacobian"]]
        return outputs, sgd(terms["cost"], self.params, learning_rate)
