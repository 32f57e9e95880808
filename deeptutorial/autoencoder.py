"""What every autoencoder of the project shares: one vocabulary, and two one-layer bases.

Every autoencoder answers the same four questions, whatever its kind:

``encode(x)``
    the code of the rows of ``x``;
``decode(code)``
    the reconstruction (or, for a generative model, the output) of a code;
``reconstruct(x=None)``
    ``decode(encode(x))`` without any noise: the evaluation graph (``x`` defaults to the
    model's input variable ``self.x``);
``cost_terms(x=None)``
    ``(terms, updates)``: a dict of named symbolic scalars whose ``"cost"`` is the training
    cost of the minibatch (the others are its parts, e.g. ``"reconstruction"``), and the
    updates of the random generators a noisy cost draws from (empty when it draws none). A
    compiled training function must carry those updates, or it draws the same noise at every
    call: PyTensor 3's random generators advance only through updates.

``training_cost(x=None)`` returns just ``(terms["cost"], updates)``, what an optimiser needs::

    cost, rng_updates = model.training_cost()
    step = pytensor.function([index], cost, givens=...,
                             updates=sgd(cost, model.params, 0.1) + rng_updates)

``params`` lists the trained shared variables; ``named_params()`` names them for saving
(``save_params``/``load_params``). Encoder weights are called ``W`` and ``b``, decoder weights
``W_prime`` and ``b_prime`` (the tutorial's names), in every model.

The two bases below are the one-hidden-layer autoencoder of the tutorials::

    h = s(x W + b)                  (the code, n_hidden units)
    z = s_out(h W_prime + b_prime)  (the reconstruction, n_visible units)

``TiedAutoencoder`` ties the decoder to the encoder, ``W_prime = W^T`` (the dA, the cA);
``UntiedAutoencoder`` trains a decoder matrix of its own (the textbook's denoising and sparse
autoencoders, the linear autoencoder).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.checks import check_choice, check_param_shape, check_positive, \
    check_symbolic_matrix, random_state
from deeptutorial.losses import LOSSES, reconstruction_loss
from deeptutorial.nn import init_sigmoid_weights, shared_floatX, zeros_shared
from deeptutorial.persistence import SavesParams


class Autoencoder(SavesParams):
    """The vocabulary every autoencoder answers (see the module docstring)."""

    x: pt.TensorVariable
    params: list

    def input_or_default(self, x=None):
        """``x``, or the model's own input variable when ``x`` is None."""
        return self.x if x is None else x

    def encode(self, x):
        raise NotImplementedError

    def decode(self, code):
        raise NotImplementedError

    def reconstruct(self, x=None):
        """The evaluation graph: ``decode(encode(x))``, no noise."""
        return self.decode(self.encode(self.input_or_default(x)))

    def cost_terms(self, x=None) -> tuple[dict, list]:
        raise NotImplementedError

    def training_cost(self, x=None) -> tuple[pt.TensorVariable, list]:
        """The mean training cost of the minibatch and the random generators' updates."""
        terms, rng_updates = self.cost_terms(x)
        return terms["cost"], rng_updates

    def named_params(self) -> dict:
        return {p.name: p for p in self.params}


class OneLayerAutoencoder(Autoencoder):
    """``h = s(x W + b)``, ``z = s_out(h W_prime + b_prime)``, trained on ``loss``.

    ``W``, ``bhid`` and ``bvis`` may be existing shared variables: the model then trains
    those very variables (how the SdA shares weights between its MLP and its dAs). A model
    whose cost draws noise (``noisy = True``) takes its generator as ``pytensor_rng``, or
    seeds one from ``numpy_rng`` *before* drawing any weight, as the dA tutorial did.

    ``encoder_scale`` and ``decoder_scale`` multiply the initial weights' sigmoid range
    (``nn.init_sigmoid_weights``): 1/4 of it is Glorot's range for linear layers.
    """

    tied: bool = True
    noisy: bool = False
    activation = staticmethod(pt.sigmoid)  # s, of the code
    output_activation = staticmethod(pt.sigmoid)  # s_out, of the reconstruction

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 500, W=None, bhid=None, bvis=None,
                 loss: str = "cross_entropy",
                 pytensor_rng: RandomGeneratorSharedVariable | None = None,
                 encoder_scale: float = 1.0, decoder_scale: float = 0.25):
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
        check_positive("n_visible", n_visible, integer=True)
        check_positive("n_hidden", n_hidden, integer=True)
        check_choice("loss", loss, LOSSES)
        sizes = f"n_visible={n_visible}, n_hidden={n_hidden}"
        check_param_shape("W", W, (n_visible, n_hidden), sizes)
        check_param_shape("bhid", bhid, (n_hidden,), sizes)
        check_param_shape("bvis", bvis, (n_visible,), sizes)
        self.n_visible, self.n_hidden, self.loss = n_visible, n_hidden, loss
        if self.noisy and pytensor_rng is None:
            pytensor_rng = shared_rng(seed=numpy_rng.randint(2 ** 30), name="noise_rng")
        self.pytensor_rng = pytensor_rng
        if W is None:
            W = shared_floatX(init_sigmoid_weights(numpy_rng, n_visible, n_hidden)
                              * encoder_scale, "W")
        self.W = W
        self.b = zeros_shared(n_hidden, "b") if bhid is None else bhid
        if self.tied:
            self.W_prime = self.W.T
        else:
            self.W_prime = shared_floatX(init_sigmoid_weights(numpy_rng, n_hidden, n_visible)
                                         * decoder_scale, "W_prime")
        self.b_prime = zeros_shared(n_visible, "b_prime") if bvis is None else bvis
        self.x = pt.matrix("x") if input is None else input
        self.params = [self.W, self.b] + ([] if self.tied else [self.W_prime]) + [self.b_prime]

    def named_params(self) -> dict:
        names = ("W", "b", "b_prime") if self.tied else ("W", "b", "W_prime", "b_prime")
        return {name: getattr(self, name) for name in names}

    def encode(self, x):
        return self.activation(pt.dot(x, self.W) + self.b)

    def decoder_logits(self, code):
        """``code W_prime + b_prime``, the reconstruction before its activation."""
        return pt.dot(code, self.W_prime) + self.b_prime

    def decode(self, code):
        return self.output_activation(self.decoder_logits(code))

    def reconstruction_cost(self, x, code):
        """Mean over the minibatch of the loss between ``x`` and ``decode(code)``.

        Losses read the reconstruction through its logits (``losses.py``)."""
        return pt.mean(reconstruction_loss(self.loss, x, self.decoder_logits(code)))

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """The plain autoencoder: reconstruct ``x`` from its own code."""
        x = self.input_or_default(x)
        return {"cost": self.reconstruction_cost(x, self.encode(x))}, []


class TiedAutoencoder(OneLayerAutoencoder):
    """A one-layer autoencoder whose decoder is the encoder's transpose, ``W_prime = W^T``.

    It also answers to the tutorial's names: ``get_hidden_values`` is ``encode`` and
    ``get_reconstructed_input`` is ``decode``."""

    tied = True

    def get_hidden_values(self, input):
        return self.encode(input)

    def get_reconstructed_input(self, hidden):
        return self.decode(hidden)


class UntiedAutoencoder(OneLayerAutoencoder):
    """A one-layer autoencoder with a decoder matrix of its own, ``W_prime`` (n_hidden x
    n_visible), which starts at a quarter of the sigmoid range: its inputs are all positive
    codes, so Glorot's range without the factor 4 (``decoder_scale``)."""

    tied = False
