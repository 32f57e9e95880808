"""The stacked (deep) autoencoder of the textbook: ELU layers, He initialisation, L2 penalty."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.autoencoder import Autoencoder
from deeptutorial.checks import check_choice, check_layer_sizes, check_non_negative, \
    check_positive, check_symbolic_matrix, random_state
from deeptutorial.losses import mse
from deeptutorial.nn import ACTIVATIONS, elu, he_normal, l2_penalty, shared_floatX, zeros_shared


class StackedAutoencoder(Autoencoder):
    """A deep autoencoder symmetric about its coding layer, e.g. 784-300-150-300-784.

    With ``layer_sizes = (n_0, n_1, ..., n_K)`` (``n_0`` inputs, ``n_K`` codings) there
    are ``2K`` layers. Encoder layer ``k`` (``k = 1..K``) and decoder layer ``k`` mirror
    each other::

        h_0 = x,        h_k = elu(h_{k-1} W_k + b_k)                  (encoder, h_K = codings)
        g_K = h_K,      g_{k-1} = a_k(g_k W'_k + b'_k)                 (decoder, g_0 = output)

    where ``W'_k`` (``W_prime[k - 1]``) maps ``n_k`` back to ``n_{k-1}`` values and ``a_k`` is
    ELU except for the output layer (``a_1`` is linear by default: MNIST pixels are compared
    by MSE). Weights start He-normal (variance ``2 / fan_in``), biases at zero. The cost is::

        mean((g_0 - x)^2) + l2_reg * sum ||W||^2 / 2

    with the sum over the *trainable* weight matrices. With ``tied=True`` the decoder
    reuses the encoder's weights, ``W'_k = W_k^T`` (the very same shared variable, seen
    through a transpose, so there are no ``W'_k`` to train or penalise); the biases
    ``b'_k`` stay separate and, like all biases, are never penalised.

    ``phase_cost(k)`` gives the greedy, one-autoencoder-at-a-time training of the
    textbook in this same graph: phase ``k`` trains only ``W_k, b_k, W'_k, b'_k`` to
    reconstruct ``h_{k-1}`` through ``h_k`` (all lower layers frozen), optionally fed
    from a cached array of ``h_{k-1}`` instead of recomputing it.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 layer_sizes: tuple[int, ...] = (784, 300, 150), tied: bool = False,
                 l2_reg: float = 0.0001, output_activation: str = "linear"):
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
        sizes = check_layer_sizes(layer_sizes)
        check_non_negative("l2_reg", l2_reg)
        check_choice("output_activation", output_activation, ("linear", "elu"))
        self.layer_sizes, self.tied, self.l2_reg = sizes, tied, float(l2_reg)
        self.output_activation = output_activation
        K = len(sizes) - 1
        self.W = [shared_floatX(he_normal(numpy_rng, sizes[k - 1], sizes[k]), f"W{k}")
                  for k in range(1, K + 1)]
        self.b = [zeros_shared(sizes[k], f"b{k}") for k in range(1, K + 1)]
        if tied:
            self.W_prime = [W.T for W in self.W]
        else:
            self.W_prime = [shared_floatX(he_normal(numpy_rng, sizes[k], sizes[k - 1]),
                                          f"W_prime{k}") for k in range(1, K + 1)]
        self.b_prime = [zeros_shared(sizes[k - 1], f"b_prime{k}") for k in range(1, K + 1)]
        self.x = pt.matrix("x") if input is None else input
        self.hidden = self.encode_all(self.x)  # [h_1, ..., h_K] of self.x
        self.weights = list(self.W) + ([] if tied else list(self.W_prime))  # trainable
        self.params = self.weights + list(self.b) + list(self.b_prime)

    @property
    def n_layers(self) -> int:
        """``K``: the number of encoder layers (the decoder has as many)."""
        return len(self.W)

    def encoder_layer(self, k: int, h):
        """``h_k`` from ``h_{k-1}`` (``k`` counts from 1)."""
        return elu(pt.dot(h, self.W[k - 1]) + self.b[k - 1])

    def decoder_layer(self, k: int, g):
        """``g_{k-1}`` from ``g_k``: ELU, except the output layer (``k = 1``)."""
        activation = ACTIVATIONS[self.output_activation if k == 1 else "elu"]
        return activation(pt.dot(g, self.W_prime[k - 1]) + self.b_prime[k - 1])

    def encode_all(self, x) -> list:
        hidden, h = [], x
        for k in range(1, self.n_layers + 1):
            h = self.encoder_layer(k, h)
            hidden.append(h)
        return hidden

    def encode(self, x):
        """The codings ``h_K``."""
        return self.encode_all(x)[-1]

    def decode(self, codings):
        g = codings
        for k in range(self.n_layers, 0, -1):
            g = self.decoder_layer(k, g)
        return g

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """``cost`` (MSE plus the L2 penalty) and its ``reconstruction`` part (the MSE)."""
        x = self.input_or_default(x)
        reconstruction = mse(self.reconstruct(x), x)
        return {"cost": reconstruction + self.l2_reg * l2_penalty(self.weights),
                "reconstruction": reconstruction}, []

    def phase_cost(self, k: int, input=None) -> tuple[pt.TensorVariable, list]:
        """Cost and trainable parameters of greedy phase ``k`` (1-based).

        The phase reconstructs ``h_{k-1}`` (``x`` for ``k = 1``) through encoder layer
        ``k`` and decoder layer ``k`` alone::

            mean((a_k(elu(h_{k-1} W_k + b_k) W'_k + b'_k) - h_{k-1})^2)
                + l2_reg (||W_k||^2 + ||W'_k||^2) / 2

        ``input`` replaces ``h_{k-1}`` (e.g. a matrix of cached outputs of the frozen
        layers below); by default it is computed from ``self.x``. Only ``W_k, b_k, W'_k,
        b'_k`` are returned as parameters, so the layers below stay frozen.
        """
        if not (isinstance(k, int) and 1 <= k <= self.n_layers):
            raise ValueError(f"phase must be an integer in 1..{self.n_layers}, got {k!r}")
        if input is None:
            input = self.x if k == 1 else self.hidden[k - 2]
        output = self.decoder_layer(k, self.encoder_layer(k, input))
        weights = [self.W[k - 1]] + ([] if self.tied else [self.W_prime[k - 1]])
        cost = mse(output, input) + self.l2_reg * l2_penalty(weights)
        return cost, weights + [self.b[k - 1], self.b_prime[k - 1]]

    def copy_layer_from(self, k: int, shallow: "StackedAutoencoder") -> None:
        """Put the one-hidden-layer autoencoder ``shallow``'s weights into layer pair ``k``:
        its encoder becomes encoder layer ``k``, its decoder decoder layer ``k``."""
        if shallow.n_layers != 1 or shallow.layer_sizes != self.layer_sizes[k - 1:k + 1]:
            raise ValueError(f"layer {k} needs a {self.layer_sizes[k - 1]}-"
                             f"{self.layer_sizes[k]} autoencoder, got layer sizes "
                             f"{shallow.layer_sizes!r}")
        self.W[k - 1].set_value(shallow.W[0].get_value())
        self.b[k - 1].set_value(shallow.b[0].get_value())
        self.b_prime[k - 1].set_value(shallow.b_prime[0].get_value())
        if not self.tied:
            W_prime = (shallow.W[0].get_value().T if shallow.tied
                       else shallow.W_prime[0].get_value())
            self.W_prime[k - 1].set_value(np.ascontiguousarray(W_prime))


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
