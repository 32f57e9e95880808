"""The two layers the SdA borrows from the companion tutorials (logistic regression, MLP)."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import zero_grad

from deeptutorial.checks import check_choice, check_param_shape, check_positive, \
    check_symbolic_matrix, random_state
from deeptutorial.nn import init_sigmoid_weights, zeros_shared

ACTIVATIONS = {"tanh": pt.tanh, "sigmoid": pt.sigmoid}


class HiddenLayer:
    """A fully connected layer ``output = s(input W + b)`` with ``s`` = tanh or sigmoid.

    ``W`` starts uniform in +-sqrt(6 / (n_in + n_out)) (Glorot & Bengio, 2010), four
    times wider for the sigmoid; ``b`` starts at zero. Existing shared ``W``/``b``
    may be passed in to share them.
    """

    def __init__(self, rng: np.random.RandomState, input, n_in: int, n_out: int, W=None, b=None,
                 activation: str = "tanh"):
        rng = random_state(rng, "rng")
        check_positive("n_in", n_in, integer=True)
        check_positive("n_out", n_out, integer=True)
        check_choice("activation", activation, ACTIVATIONS)
        check_symbolic_matrix("input", input)
        sizes = f"n_in={n_in}, n_out={n_out}"
        check_param_shape("W", W, (n_in, n_out), sizes)
        check_param_shape("b", b, (n_out,), sizes)
        if W is None:
            values = init_sigmoid_weights(rng, n_in, n_out)
            if activation == "tanh":
                values /= 4
            W = pytensor.shared(values, name="W", borrow=True)
        if b is None:
            b = zeros_shared(n_out, "b")
        self.input = input
        self.W = W
        self.b = b
        self.output = ACTIVATIONS[activation](pt.dot(input, self.W) + self.b)
        self.params = [self.W, self.b]


class LogisticRegression:
    """Multi-class logistic regression ``P(Y = i | x) = softmax(x W + b)_i``.

    ``W`` and ``b`` start at zero; ``y_pred`` is the most probable class. The softmax goes
    through its logarithm, ``log_softmax(a) = a - m - log(sum_j exp(a_j - m))`` with
    ``m = max_j a_j``, so the negative log-likelihood never takes log(0). It is written out
    because PyTensor 3.0's ``softmax`` op forgets the static batch size of its input, and with
    it the matrix-vector BLAS calls that make batch size 1 fast (``data.minibatch``).
    """

    def __init__(self, input, n_in: int, n_out: int):
        check_positive("n_in", n_in, integer=True)
        if not (isinstance(n_out, int) and n_out >= 2):
            raise ValueError(f"n_out must be an integer >= 2 (classes), got {n_out!r}")
        self.n_out = n_out
        self.W = pytensor.shared(np.zeros((n_in, n_out), dtype=pytensor.config.floatX),
                                 name="W", borrow=True)
        self.b = zeros_shared(n_out, "b")
        self.input = input
        logits = pt.dot(input, self.W) + self.b
        # m only keeps exp() in range; the result does not depend on it, so no gradient either.
        shifted = logits - zero_grad(pt.max(logits, axis=1, keepdims=True))
        self.log_p_y_given_x = shifted - pt.log(pt.sum(pt.exp(shifted), axis=1, keepdims=True))
        self.p_y_given_x = pt.exp(self.log_p_y_given_x)
        self.y_pred = pt.argmax(self.log_p_y_given_x, axis=1)
        self.params = [self.W, self.b]

    def negative_log_likelihood(self, y):
        """Mean of ``-log P(Y = y | x)`` over the minibatch."""
        return -pt.mean(self.log_p_y_given_x[pt.arange(y.shape[0]), y])

    def errors(self, y):
        """Fraction of the minibatch that is misclassified."""
        return pt.mean(pt.neq(self.y_pred, y))
