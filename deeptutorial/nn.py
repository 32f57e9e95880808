"""The building blocks every model shares: initialisers, activations and penalties.

Each is written once here, so that a model's module holds only what makes that model itself.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_fits_in_memory


def shared_floatX(value: np.ndarray, name: str) -> pytensor.compile.SharedVariable:
    """A shared variable holding ``value`` in ``floatX`` (its buffer borrowed, not copied)."""
    return pytensor.shared(np.asarray(value, dtype=pytensor.config.floatX), name=name,
                           borrow=True)


def zeros_shared(n: int, name: str) -> pytensor.compile.SharedVariable:
    """A shared vector of ``n`` zeros in ``floatX``: how every bias starts."""
    check_fits_in_memory(f"the vector {name}", (n,))
    return shared_floatX(np.zeros(n), name)


def init_sigmoid_weights(numpy_rng: np.random.RandomState, n_in: int, n_out: int) -> np.ndarray:
    """Uniform in +-4 sqrt(6 / (n_in + n_out)): Glorot's range, times 4 for the sigmoid.

    Glorot and Bengio (2010) chose the range so that a layer keeps the variance of its
    inputs' signal and of its gradients; the sigmoid's slope at 0 is 1/4, hence the factor 4.
    A quarter of it is Glorot's range for tanh and linear layers.
    """
    check_fits_in_memory("a weight matrix", (n_in, n_out))
    bound = 4 * np.sqrt(6.0 / (n_in + n_out))
    return np.asarray(numpy_rng.uniform(low=-bound, high=bound, size=(n_in, n_out)),
                      dtype=pytensor.config.floatX)


def he_normal(numpy_rng: np.random.RandomState, n_in: int, n_out: int,
              scale: float = 2.0) -> np.ndarray:
    """Normal with variance ``scale / n_in`` (He et al., 2015): with ``scale = 2``, ReLU-like
    layers keep the second moment of their inputs from layer to layer."""
    check_fits_in_memory("a weight matrix", (n_in, n_out))
    return np.asarray(numpy_rng.normal(0.0, np.sqrt(scale / n_in), size=(n_in, n_out)),
                      dtype=pytensor.config.floatX)


def glorot_uniform_kernel(numpy_rng: np.random.RandomState, kh: int, kw: int, c_in: int,
                          c_out: int) -> np.ndarray:
    """A convolution kernel (kh, kw, c_in, c_out) uniform in +-sqrt(6 / (fan_in + fan_out)),
    with ``fan_in = kh kw c_in`` and ``fan_out = kh kw c_out``: Glorot's range, as the
    best-known framework examples initialise their convolutions."""
    check_fits_in_memory("a convolution kernel", (kh, kw, c_in, c_out))
    bound = np.sqrt(6.0 / (kh * kw * (c_in + c_out)))
    return np.asarray(numpy_rng.uniform(-bound, bound, size=(kh, kw, c_in, c_out)),
                      dtype=pytensor.config.floatX)


def relu(a):
    """The rectified linear unit, ``max(a, 0)``."""
    return pt.maximum(a, 0)


def elu(a):
    """Exponential linear unit: ``a`` for ``a > 0``, ``exp(a) - 1`` otherwise.

    ``expm1`` sees only ``min(a, 0)``, so the branch not taken never overflows (an infinite
    value there would turn the switch's gradient into NaN)."""
    return pt.switch(pt.gt(a, 0), a, pt.expm1(pt.minimum(a, 0)))


def identity(a):
    """The linear activation."""
    return a


ACTIVATIONS = {"sigmoid": pt.sigmoid, "tanh": pt.tanh, "elu": elu, "relu": relu,
               "linear": identity}


def l2_penalty(weights: list) -> pt.TensorVariable:
    """``sum_W ||W||^2 / 2`` over ``weights`` (TensorFlow's ``l2_loss``); biases are never in it."""
    zero = pt.constant(0.0, dtype=pytensor.config.floatX)
    return sum((pt.sum(W ** 2) / 2 for W in weights), zero)


def bernoulli_kl(p, q):
    """KL divergence of Bernoulli(p) from Bernoulli(q), elementwise:
    ``p log(p / q) + (1 - p) log((1 - p) / (1 - q))``; zero exactly when ``q == p``."""
    return p * pt.log(p / q) + (1 - p) * pt.log((1 - p) / (1 - q))


def gaussian_kl(mean, log_variance):
    """Per-row KL divergence of N(mean, exp(log_variance)) from N(0, I), a vector:
    ``0.5 * sum_j (exp(g_j) + mean_j^2 - 1 - g_j)`` with ``g = log_variance``."""
    return 0.5 * pt.sum(pt.exp(log_variance) + mean ** 2 - 1 - log_variance, axis=1)


def dense_layers(numpy_rng: np.random.RandomState, sizes: list[int], prefix: str) -> list[tuple]:
    """Shared ``(W, b)`` pairs of fully connected layers ``sizes[0] -> sizes[1] -> ...``,
    named ``{prefix}1``, ``{prefix}2``, ...: He-initialised for ReLU hidden layers (variance
    ``2 / n_in``), the last one at variance ``1 / n_in`` since it has no ReLU; biases at zero."""
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        scale = 2.0 if k < len(sizes) - 1 else 1.0
        layers.append((shared_floatX(he_normal(numpy_rng, n_in, n_out, scale), f"W{prefix}{k}"),
                       zeros_shared(n_out, f"b{prefix}{k}")))
    return layers


def mlp(h, layers: list[tuple], activation=relu):
    """``h`` through ``layers`` of ``dense_layers``: ``activation`` after every layer but the
    last, whose pre-activation (e.g. logits) is returned."""
    for W, b in layers[:-1]:
        h = activation(pt.dot(h, W) + b)
    W, b = layers[-1]
    return pt.dot(h, W) + b
