"""A deep classifier whose hidden layers can be taken from a pretrained stacked autoencoder."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_positive
from deeptutorial.dA import zeros_shared
from deeptutorial.layers import LogisticRegression
from deeptutorial.persistence import SavesParams
from deeptutorial.stacked_autoencoder import StackedAutoencoder, elu, he_normal, l2_penalty


class PretrainableClassifier(SavesParams):
    """ELU hidden layers topped by multi-class logistic regression::

        h_0 = x,   h_k = elu(h_{k-1} W_k + b_k)   (k = 1..K)
        P(Y = i | x) = softmax(h_K W + b)_i

    trained on ``-mean log P(Y = y | x) + l2_reg * sum_k ||W_k||^2 / 2``.

    The hidden layers start He-normal, or, given ``encoder``, as *copies* of that
    stacked autoencoder's encoder layers (unsupervised pretraining: each classifier
    then owns its weights, so several may start from one encoder). ``trainable_params``
    lists what an optimiser should update: everything (training from scratch, or
    fine-tuning a pretrained encoder) or, with ``freeze_hidden``, only the top
    logistic regression, which keeps the pretrained features frozen.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 layer_sizes: tuple[int, ...] = (784, 300, 150), n_classes: int = 10,
                 encoder: StackedAutoencoder | None = None, l2_reg: float = 0.0):
        sizes = tuple(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs the input size and at least one hidden layer, "
                             f"got {layer_sizes!r}")
        for n in sizes:
            check_positive("layer size", n, integer=True)
        if not (isinstance(l2_reg, (int, float)) and not isinstance(l2_reg, bool)
                and 0 <= l2_reg < float("inf")):
            raise ValueError(f"l2_reg must be a number >= 0, got {l2_reg!r}")
        if encoder is not None and tuple(encoder.layer_sizes) != sizes:
            raise ValueError(f"the encoder has layer sizes {tuple(encoder.layer_sizes)!r}, the "
                             f"classifier {sizes!r}")
        self.layer_sizes, self.l2_reg = sizes, float(l2_reg)
        self.W, self.b = [], []
        for k in range(1, len(sizes)):
            if encoder is None:
                W_value, b_value = he_normal(numpy_rng, sizes[k - 1], sizes[k]), None
            else:
                W_value = encoder.W[k - 1].get_value().copy()
                b_value = encoder.b[k - 1].get_value().copy()
            self.W.append(pytensor.shared(W_value, name=f"W{k}", borrow=True))
            b = zeros_shared(sizes[k], f"b{k}")
            if b_value is not None:
                b.set_value(b_value)
            self.b.append(b)
        self.x = pt.matrix("x") if input is None else input
        self.y = pt.ivector("y")
        h = self.x
        for W, b in zip(self.W, self.b):
            h = elu(pt.dot(h, W) + b)
        self.features = h
        self.top = LogisticRegression(input=h, n_in=sizes[-1], n_out=n_classes)
        self.top.W.name, self.top.b.name = "W_out", "b_out"
        self.cost = self.top.negative_log_likelihood(self.y) + self.l2_reg * l2_penalty(self.W)
        self.errors = self.top.errors(self.y)
        self.params = self.W + self.b + self.top.params

    def named_params(self) -> dict:
        return {p.name: p for p in self.params}

    def trainable_params(self, freeze_hidden: bool = False) -> list:
        """All parameters, or only the top layer's when ``freeze_hidden``."""
        return list(self.top.params) if freeze_hidden else list(self.params)
