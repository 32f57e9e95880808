"""Classifiers on what an autoencoder learnt: a deep one whose hidden layers can be taken from
a pretrained stacked autoencoder, and the tutorials' logistic regression on frozen codes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytensor
import pytensor.tensor as pt

from deeptutorial.checks import check_layer_sizes, check_non_negative, check_symbolic_matrix, \
    random_state
from deeptutorial.layers import LogisticRegression
from deeptutorial.nn import elu, he_normal, l2_penalty, shared_floatX
from deeptutorial.optimizers import adam
from deeptutorial.persistence import SavesParams
from deeptutorial.stacked_autoencoder import StackedAutoencoder
from deeptutorial.training import ErrorCurve, compile_step, error_percent, n_batches, train


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
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
        sizes = check_layer_sizes(layer_sizes)
        check_non_negative("l2_reg", l2_reg)
        if encoder is not None and tuple(encoder.layer_sizes) != sizes:
            raise ValueError(f"the encoder has layer sizes {tuple(encoder.layer_sizes)!r}, the "
                             f"classifier {sizes!r}")
        self.layer_sizes, self.l2_reg = sizes, float(l2_reg)
        self.W, self.b = [], []
        for k in range(1, len(sizes)):
            if encoder is None:
                W_value = he_normal(numpy_rng, sizes[k - 1], sizes[k])
                b_value = np.zeros(sizes[k])
            else:
                W_value = encoder.W[k - 1].get_value().copy()
                b_value = encoder.b[k - 1].get_value().copy()
            self.W.append(shared_floatX(W_value, f"W{k}"))
            self.b.append(shared_floatX(b_value, f"b{k}"))
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


def logistic_regression_on(codes: np.ndarray, labels: np.ndarray, batch_size: int,
                           learning_rate: float) -> tuple[Callable, int, Callable]:
    """The tutorials' logistic regression (their linear classifier), from zero weights, set
    to learn ``labels`` from ``codes`` by Adam in minibatches of ``batch_size``: returns the
    compiled training step and its number of minibatches an epoch (for ``train``), and
    ``predict``, a function from a matrix of codes to labels."""
    data = shared_floatX(codes, "codes")
    targets = pytensor.shared(np.asarray(labels, dtype=np.int32), name="labels")
    x, y = pt.matrix("codes"), pt.ivector("y")
    top = LogisticRegression(x, codes.shape[1], 10)
    cost = top.negative_log_likelihood(y)
    step, _ = compile_step(cost, adam(cost, top.params, learning_rate), x, data, batch_size,
                           y=y, data_y=targets, name="classifier")
    return step, n_batches(data, batch_size), pytensor.function([x], top.y_pred)


def classify_codes(codes: list[np.ndarray], labels: list[np.ndarray], batch_size: int,
                   epochs: int, learning_rate: float, refit: bool = False) -> dict:
    """The tutorials' logistic regression trained by Adam on the frozen ``codes`` of the
    training, validation and test digits; the test error at the epoch of the best validation
    error, as the papers report a linear classifier on learnt features.

    With ``refit``, a second classifier then starts afresh on the training and validation
    codes together (MNIST's whole training set of 60,000 digits, on which published test
    errors are usually measured) and trains for as many epochs as the first needed to reach
    its best validation error; its test error is ``refit["test_error_percent"]``. Nothing is
    chosen for it on the validation digits it learns from: its number of epochs was chosen
    before, by the first classifier."""
    (train_c, valid_c, test_c), (train_y, valid_y, test_y) = codes, labels
    step, batches, predict = logistic_regression_on(train_c, train_y, batch_size,
                                                    learning_rate)
    curve = ErrorCurve(predict, (valid_c, valid_y), (test_c, test_y), log=None)
    train(step, batches, epochs, on_epoch_end=curve.record,
          log_format="classifier: epoch {epoch}, cost {cost:.4f}")
    best = curve.best()
    print(f"classifier on the codes: validation error {best['validation_error_percent']:.2f} %, "
          f"test error {best['test_error_percent']:.2f} % (epoch {best['epoch']})")
    result = {"best_epoch": best["epoch"], "test_error_percent": best["test_error_percent"],
              "validation_error_percent": best["validation_error_percent"],
              "curve": curve.points}
    if refit:
        refit_epochs = best["epoch"] + 1
        step, batches, predict = logistic_regression_on(
            np.concatenate([train_c, valid_c]), np.concatenate([train_y, valid_y]),
            batch_size, learning_rate)
        train(step, batches, refit_epochs,
              log_format="classifier on training and validation codes: epoch {epoch}, "
                         "cost {cost:.4f}")
        error = error_percent(predict, (test_c, test_y))
        print(f"classifier refit on the training and validation codes for {refit_epochs} "
              f"epochs: test error {error:.2f} %")
        result["refit"] = {"epochs": refit_epochs, "n_train": len(train_c) + len(valid_c),
                           "test_error_percent": error}
    return result


def classifier_figures(classifier: dict) -> dict:
    """What a script's ``results.json`` says of ``classify_codes``'s result: all of it under
    ``classifier``, and its test errors at the top, ``classifier_test_error_percent`` and,
    after a refit, ``classifier_refit_test_error_percent``."""
    figures = {"classifier_test_error_percent": classifier["test_error_percent"]}
    if "refit" in classifier:
        figures["classifier_refit_test_error_percent"] = classifier["refit"]["test_error_percent"]
    return {**figures, "classifier": classifier}
