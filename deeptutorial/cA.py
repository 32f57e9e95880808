"""The contractive autoencoder of the Theano tutorials (Rifai et al., 2011), as a PyTensor graph."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_positive
from deeptutorial.dA import init_sigmoid_weights, zeros_shared
from deeptutorial.losses import cross_entropy
from deeptutorial.persistence import SavesParams


class cA(SavesParams):
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
                 n_visible: int = 784, n_hidden: int = 500, W=None, bhid=None, bvis=None):
        check_positive("n_visible", n_visible, integer=True)
        check_positive("n_hidden", n_hidden, integer=True)
        self.n_visible, self.n_hidden = n_visible, n_hidden
        if W is None:
            W = pytensor.shared(init_sigmoid_weights(numpy_rng, n_visible, n_hidden), name="W",
                                borrow=True)
        self.W = W
        self.b = zeros_shared(n_hidden, "b") if bhid is None else bhid
        self.b_prime = zeros_shared(n_visible, "b_prime") if bvis is None else bvis
        self.W_prime = self.W.T
        self.x = pt.matrix("x") if input is None else input
        self.params = [self.W, self.b, self.b_prime]

    def named_params(self) -> dict:
        return {"W": self.W, "b": self.b, "b_prime": self.b_prime}

    def get_hidden_values(self, input):
        return pt.sigmoid(pt.dot(input, self.W) + self.b)

    def get_reconstruction_logits(self, hidden):
        return pt.dot(hidden, self.W_prime) + self.b_prime

    def get_reconstructed_input(self, hidden):
        return pt.sigmoid(self.get_reconstruction_logits(hidden))

    def get_jacobian(self, hidden):
        """The full Jacobians ``dh/dx``, shape (batch, n_visible, n_hidden); for checks and
        small models (the cost uses ``jacobian_norm2``, which never builds them)."""
        return (hidden * (1 - hidden)).dimshuffle(0, "x", 1) * self.W.dimshuffle("x", 0, 1)

    def jacobian_norm2(self, hidden):
        """Per-example squared Frobenius norm of dh/dx (a vector), in closed form."""
        return pt.dot((hidden * (1 - hidden)) ** 2, pt.sum(self.W ** 2, axis=0))

    def get_cost_terms(self, contraction_level):
        """``(cost, mean reconstruction cost, mean squared Jacobian norm)`` of ``self.x``."""
        if isinstance(contraction_level, bool) or (
                isinstance(contraction_level, (int, float))
                and not 0 <= contraction_level < float("inf")):
            raise ValueError(f"contraction_level must be >= 0, got {contraction_level!r}")
        hidden = self.get_hidden_values(self.x)
        reconstruction = pt.mean(cross_entropy(self.x, self.get_reconstruction_logits(hidden)))
        jacobian = pt.mean(self.jacobian_norm2(hidden))
        return reconstruction + contraction_level * jacobian, reconstruction, jacobian

    def get_cost_updates(self, contraction_level, learning_rate):
        """``([cost, reconstruction, jacobian], updates)``: the tutorial's outputs and one
        SGD step on ``params``."""
        if isinstance(learning_rate, (int, float)):
            check_positive("learning_rate", learning_rate)
        cost, reconstruction, jacobian = self.get_cost_terms(contraction_level)
        grads = pytensor.grad(cost, self.params)
        updates = [(p, p - learning_rate * g) for p, g in zip(self.params, grads)]
        return [cost, reconstruction, jacobian], updates
