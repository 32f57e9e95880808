"""Optimisers as PyTensor update lists: ``updates = adam(cost, params)``."""

from __future__ import annotations

import contextlib

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_float_type, check_positive, is_number


def sgd(cost, params: list, learning_rate=0.1) -> list:
    """Plain stochastic gradient descent: ``p <- p - lr * dcost/dp``."""
    if is_number(learning_rate):
        check_positive("learning_rate", learning_rate)
        check_float_type("learning_rate", learning_rate, pytensor.config.floatX)
    grads = pytensor.grad(cost, params)
    return [(p, p - learning_rate * g) for p, g in zip(params, grads)]


def adam(cost, params: list, learning_rate: float = 0.001, beta1: float = 0.9,
         beta2: float = 0.999, epsilon: float = 1e-8) -> list:
    """Adam (Kingma & Ba, 2015), with its moment estimates and step count as shared state::

        t <- t + 1
        m <- beta1 m + (1 - beta1) g          v <- beta2 v + (1 - beta2) g^2
        p <- p - lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)

    The state variables are listed in ``updates`` too, so they can be checkpointed.
    """
    if is_number(learning_rate):  # a symbolic or shared rate is the caller's
        check_positive("learning_rate", learning_rate)
        check_float_type("learning_rate", learning_rate, pytensor.config.floatX)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0 <= beta < 1:
            raise ValueError(f"{name} must be in [0, 1), got {beta!r}")
    floatX = pytensor.config.floatX
    grads = pytensor.grad(cost, params)
    t_prev = pytensor.shared(np.asarray(0.0, dtype=floatX), name="adam_t")
    t = t_prev + 1
    step = learning_rate * pt.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    updates = [(t_prev, t)]
    for p, g in zip(params, grads):
        value = p.get_value(borrow=True)
        m_prev = pytensor.shared(np.zeros(value.shape, dtype=value.dtype), name=f"adam_m_{p.name}")
        v_prev = pytensor.shared(np.zeros(value.shape, dtype=value.dtype), name=f"adam_v_{p.name}")
        m = beta1 * m_prev + (1 - beta1) * g
        v = beta2 * v_prev + (1 - beta2) * g ** 2
        updates += [(m_prev, m), (v_prev, v),
                    (p, (p - step * m / (pt.sqrt(v) + epsilon)).astype(p.dtype))]
    return updates


class MovingAverage:
    """An exponential moving average of ``params`` (Polyak averaging), less noisy than the
    last step of a stochastic optimiser.

    Add ``updates`` to the training function's updates: after every step
    ``a <- decay a + (1 - decay) p``, starting from ``a = 0``. Read through ``values()``,
    which divides by ``1 - decay^t`` so that early averages are not biased towards zero;
    ``step()`` counts the calls (in Python: one update per call of the training function).
    """

    def __init__(self, params: list, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay!r}")
        self.params, self.decay = params, decay
        self.averages = [pytensor.shared(np.zeros_like(p.get_value()), name=f"average_{p.name}")
                         for p in params]
        self.steps = 0
        self.updates = [(a, (decay * a + (1 - decay) * p).astype(a.dtype))
                        for a, p in zip(self.averages, params)]

    def step(self) -> None:
        """Count one call of the training function that carries ``updates``."""
        self.steps += 1

    def values(self) -> list[np.ndarray]:
        """The bias-corrected averages, in the order of ``params``."""
        correction = 1 - self.decay ** self.steps
        return [(a.get_value() / correction).astype(a.dtype) for a in self.averages]

    def assign(self) -> None:
        """Give the parameters their averaged values for good."""
        for p, value in zip(self.params, self.values()):
            p.set_value(value)

    @contextlib.contextmanager
    def swapped_in(self):
        """Give the parameters their averaged values inside the block, then restore them."""
        saved = [p.get_value() for p in self.params]
        self.assign()
        try:
            yield
        finally:
            for p, value in zip(self.params, saved):
                p.set_value(value)


def optimizer_state(updates: list, params: list) -> list:
    """The shared variables an update list changes besides ``params`` (Adam's moments and
    step count): what must be reset to start training afresh."""
    return [var for var, _ in updates if all(var is not p for p in params)]


def reset(variables: list) -> None:
    """Set shared variables to zero (e.g. ``optimizer_state`` before a new run)."""
    for var in variables:
        var.set_value(np.zeros_like(var.get_value()))
