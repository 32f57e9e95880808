"""The stacked (deep) autoencoder of the textbook: ELU layers, He initialisation, L2 penalty."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_positive
from deeptutorial.dA import zeros_shared
from deeptutorial.persistence import SavesParams


def elu(a):
    """Exponential linear unit: ``a`` for ``a > 0``, ``exp(a) - 1`` otherwise.

    ``expm1`` sees only ``min(a, 0)``, so the branch not taken never overflows (an
    infinite value there would turn the switch's gradient into NaN)."""
    return pt.switch(pt.gt(a, 0), a, pt.expm1(pt.minimum(a, 0)))


ACTIVATIONS = {"elu": elu, "linear": lambda a: a}


def he_normal(numpy_rng: np.random.RandomState, n_in: int, n_out: int) -> np.ndarray:
    """He (variance-scaling) initialisation: normal with variance ``2 / n_in``, so that
    ReLU-like layers keep the scale of their inputs' second moment from layer to layer."""
    return np.asarray(numpy_rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out)),
                      dtype=pytensor.config.floatX)


def l2_penalty(weights: list) -> pt.TensorVariable:
    """``sum_W ||W||^2 / 2`` over ``weights`` (TensorFlow's ``l2_loss``); biases are never in it."""
    zero = pt.constant(0.0, dtype=pytensor.config.floatX)
    return sum((pt.sum(W ** 2) / 2 for W in weights), zero)


def mse(a, b) -> pt.TensorVariable:
    """Mean over rows and columns of ``(a - b)^2``."""
    return pt.mean((a - b) ** 2)


class StackedAutoencoder(SavesParams):
    """A deep autoencoder symmetric about its coding layer, e.g. 784-300-150-300-784.

    With ``layer_sizes = (n_0, n_1, ..., n_K)`` (``n_0`` inputs, ``n_K`` codings) there
    are ``2K`` layers. Encoder layer ``k`` (``k = 1..K``) and decoder layer ``k`` mirror
    each other::

        h_0 = x,        h_k = elu(h_{k-1} W_k + b_k)                  (encoder, h_K = codings)
        g_K = h_K,      g_{k-1} = a_k(g_k V_k + c_k)                   (decoder, g_0 = output)

    where ``V_k`` maps ``n_k`` back to ``n_{k-1}`` values, ``a_k`` is ELU except for the
    output layer (``a_1`` is linear by default: MNIST pixels are compared by MSE). Weights
    start He-normal (variance ``2 / fan_in``), biases at zero. The loss is::

        mean((g_0 - x)^2) + l2_reg * sum ||W||^2 / 2

    with the sum over the *trainable* weight matrices. With ``tied=True`` the decoder
    reuses the encoder's weights, ``V_k = W_k^T`` (the very same shared variable, seen
    through a transpose, so there are no ``V_k`` to train or penalise); the biases
    ``c_k`` stay separate and, like all biases, are never penalised.

    ``phase_cost(k)`` gives the greedy, one-autoencoder-at-a-time training of the
    textbook in this same graph: phase ``k`` trains only ``W_k, b_k, V_k, c_k`` to
    reconstruct ``h_{k-1}`` through ``h_k`` (all lower layers frozen), optionally fed
    from a cached array of ``h_{k-1}`` instead of recomputing it.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 layer_sizes: tuple[int, ...] = (784, 300, 150), tied: bool = False,
                 l2_reg: float = 0.0001, output_activation: str = "linear"):
        sizes = tuple(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs the input size and at least one hidden layer, "
                             f"got {layer_sizes!r}")
        for n in sizes:
            check_positive("layer size", n, integer=True)
        if not (isinstance(l2_reg, (int, float)) and not isinstance(l2_reg, bool)
                and 0 <= l2_reg < float("inf")):
            raise ValueError(f"l2_reg must be a number >= 0, got {l2_reg!r}")
        if output_activation not in ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {sorted(ACTIVATIONS)}, got "
                             f"{output_activation!r}")
        self.layer_sizes, self.tied, self.l2_reg = sizes, tied, float(l2_reg)
        self.output_activation = output_activation
        K = len(sizes) - 1
        self.W = [pytensor.shared(he_normal(numpy_rng, sizes[k - 1], sizes[k]), name=f"W{k}",
                                  borrow=True) for k in range(1, K + 1)]
        self.b = [zeros_shared(sizes[k], f"b{k}") for k in range(1, K + 1)]
        if tied:
            self.V = [W.T for W in self.W]
        else:
            self.V = [pytensor.shared(he_normal(numpy_rng, sizes[k], sizes[k - 1]), name=f"V{k}",
                                      borrow=True) for k in range(1, K + 1)]
        self.c = [zeros_shared(sizes[k - 1], f"c{k}") for k in range(1, K + 1)]
        self.x = pt.matrix("x") if input is None else input
        self.hidden = self.encode_all(self.x)  # [h_1, ..., h_K]
        self.codings = self.hidden[-1]
        self.outputs = self.decode(self.codings)
        self.reconstruction_loss = mse(self.outputs, self.x)
        self.weights = list(self.W) + ([] if tied else list(self.V))  # trainable matrices
        self.cost = self.reconstruction_loss + self.l2_reg * l2_penalty(self.weights)
        self.params = self.weights + list(self.b) + list(self.c)

    @property
    def n_layers(self) -> int:
        """``K``: the number of encoder layers (the decoder has as many)."""
        return len(self.W)

    def named_params(self) -> dict:
        return {p.name: p for p in self.params}

    def encoder_layer(self, k: int, h):
        """``h_k`` from ``h_{k-1}`` (``k`` counts from 1)."""
        return elu(pt.dot(h, self.W[k - 1]) + self.b[k - 1])

    def decoder_layer(self, k: int, g):
        """``g_{k-1}`` from ``g_k``: ELU, except the output layer (``k = 1``)."""
        activation = ACTIVATIONS[self.output_activation if k == 1 else "elu"]
        return activation(pt.dot(g, self.V[k - 1]) + self.c[k - 1])

    def encode_all(self, x) -> list:
        hidden, h = [], x
        for k in range(1, self.n_layers + 1):
            h = self.encoder_layer(k, h)
            hidden.append(h)
        return hidden

    def decode(self, codings):
        g = codings
        for k in range(self.n_layers, 0, -1):
            g = self.decoder_layer(k, g)
        return g

    def phase_cost(self, k: int, input=None) -> tuple[pt.TensorVariable, list]:
        """Cost and trainable parameters of greedy phase ``k`` (1-based).

        The phase reconstructs ``h_{k-1}`` (``x`` for ``k = 1``) through encoder layer
        ``k`` and decoder layer ``k`` alone::

            mean((a_k(elu(h_{k-1} W_k + b_k) V_k + c_k) - h_{k-1})^2)
                + l2_reg (||W_k||^2 + ||V_k||^2) / 2

        ``input`` replaces ``h_{k-1}`` (e.g. a matrix of cached outputs of the frozen
        layers below); by default it is computed from ``self.x``. Only ``W_k, b_k, V_k,
        c_k`` are returned as parameters, so the layers below stay frozen.
        """
        if not (isinstance(k, int) and 1 <= k <= self.n_layers):
            raise ValueError(f"phase must be an integer in 1..{self.n_layers}, got {k!r}")
        if input is None:
            input = self.x if k == 1 else self.hidden[k - 2]
        output = self.decoder_layer(k, self.encoder_layer(k, input))
        weights = [self.W[k - 1]] + ([] if self.tied else [self.V[k - 1]])
        cost = mse(output, input) + self.l2_reg * l2_penalty(weights)
        return cost, weights + [self.b[k - 1], self.c[k - 1]]

    def copy_layer_from(self, k: int, shallow: "StackedAutoencoder") -> None:
        """Put the one-hidden-layer autoencoder ``shallow``'s weights into layer pair ``k``:
        its encoder becomes encoder layer ``k``, its decoder decoder layer ``k``."""
        if shallow.n_layers != 1 or shallow.layer_sizes != self.layer_sizes[k - 1:k + 1]:
            raise ValueError(f"layer {k} needs a {self.layer_sizes[k - 1]}-"
                             f"{self.layer_sizes[k]} autoencoder, got layer sizes "
                             f"{shallow.layer_sizes!r}")
        self.W[k - 1].set_value(shallow.W[0].get_value())
        self.b[k - 1].set_value(shallow.b[0].get_value())
        self.c[k - 1].set_value(shallow.c[0].get_value())
        if not self.tied:
            V = shallow.V[0].get_value() if not shallow.tied else shallow.W[0].get_value().T
            self.V[k - 1].set_value(np.ascontiguousarray(V))


def activation_maximisation(model: StackedAutoencoder, layer: int, units: list[int],
                            start: np.ndarray, n_steps: int = 200, step_size: float = 0.05,
                            l2: float = 0.01) -> np.ndarray:
    """Inputs that excite the given hidden units, found by gradient ascent on the input.

    Row ``j`` of ``start`` is moved uphill on ``h_layer[j, units[j]] - l2 ||x_j||^2 / 2``
    for ``n_steps`` steps of ``step_size`` times the normalised gradient, then clipped to
    [0, 1] (the pixel range) after each step. Returns the final inputs.
    """
    check_positive("n_steps", n_steps, integer=True)
    check_positive("step_size", step_size)
    if not 1 <= layer <= model.n_layers:
        raise ValueError(f"layer must be in 1..{model.n_layers}, got {layer!r}")
    start = np.asarray(start, dtype=pytensor.config.floatX)
    if start.shape != (len(units), model.layer_sizes[0]):
        raise ValueError(f"start must have shape ({len(units)}, {model.layer_sizes[0]}), got "
                         f"{start.shape}")
    x = pytensor.shared(start.copy(), name="x_ascent")
    h = x
    for k in range(1, layer + 1):
        h = model.encoder_layer(k, h)
    picked = h[pt.arange(len(units)), pt.as_tensor_variable(np.asarray(units, dtype="int64"))]
    objective = pt.sum(picked) - l2 * pt.sum(x ** 2) / 2
    g = pytensor.grad(objective, x)
    g = g / (pt.sqrt(pt.sum(g ** 2, axis=1, keepdims=True)) + 1e-8)
    step = pytensor.function([], picked, updates=[(x, pt.clip(x + step_size * g, 0, 1))])
    for _ in range(n_steps):
        step()
    return x.get_value()
