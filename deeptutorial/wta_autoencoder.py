"""The winner-take-all autoencoder (Makhzani & Frey, 2015) with lifetime sparsity: each code
unit keeps only its largest activations over the minibatch."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from deeptutorial.autoencoder import UntiedAutoencoder
from deeptutorial.checks import check_open_fraction
from deeptutorial.losses import mse, squared_error
from deeptutorial.nn import identity, relu


def winners_per_unit(batch_size: int, sparsity: float) -> int:
    """How many examples of a minibatch of ``batch_size`` each unit keeps: ``sparsity`` of
    them, rounded, and at least one; a batch too small for one winner is a ``ValueError``."""
    check_open_fraction("sparsity", sparsity)
    k = int(round(batch_size * sparsity))
    if k < 1:
        raise ValueError(f"a minibatch of {batch_size} holds no winner per unit at sparsity "
                         f"{sparsity:g} ({batch_size} x {sparsity:g} rounds to 0): use a batch "
                         f"of at least {int(np.ceil(0.5 / sparsity))}")
    return k


def keep_lifetime_winners(h, k):
    """``h`` with all but the ``k`` largest values of each column (each unit, over the
    minibatch's rows) set to zero.

    The threshold is each column's k-th largest value; the mask compares with it and has no
    gradient, so the gradient reaches the kept activations only. This is ``keep_k_largest``
    of the k-sparse autoencoder turned on its side: there every example keeps k units, here
    every unit keeps k examples."""
    threshold = pt.sort(h, axis=0)[h.shape[0] - k]
    return h * pt.ge(h, threshold[None, :])


class WTAAutoencoder(UntiedAutoencoder):
    """A ReLU autoencoder whose code keeps, in training, each unit's ``sparsity`` fraction of
    largest activations over the minibatch (lifetime sparsity)::

        z = max(0, x W + b)                     (every unit, every example)
        h = keep_lifetime_winners(z, k)         (k = sparsity x batch examples per unit)
        r = h W' + b'                           (linear decoder: the dictionary W')

    trained on the squared error ``mean_x ||r - x||^2``. Where the k-sparse autoencoder makes
    every digit pick a few units, here every unit must pick a few digits: no unit can stay
    silent (it wins k examples of every batch) and none can answer for everything, so each
    filter of the dictionary specialises in the part of the digits it wins.

    The competition needs a batch, so it is a training device only: ``encode`` gives the
    ReLU code without it, the features a classifier reads, as the paper uses them.
    """

    activation = staticmethod(relu)
    output_activation = staticmethod(identity)

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 2000, sparsity: float = 0.05):
        check_open_fraction("sparsity", sparsity)
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         loss="squared_error", encoder_scale=0.25, decoder_scale=0.25)
        self.sparsity = sparsity

    def encode(self, x):
        """The ReLU code, without the competition: the features."""
        return relu(pt.dot(x, self.W) + self.b)

    def sparse_code(self, x, k):
        """The code of the minibatch ``x`` in training: each unit's ``k`` winners kept."""
        return keep_lifetime_winners(self.encode(x), k)

    def cost_terms(self, x=None, k=None) -> tuple[dict, list]:
        """``cost``: the squared reconstruction error per example (summed over pixels,
        averaged over examples) of the lifetime-sparse code; ``mse``: the same per pixel.
        ``k`` defaults to ``sparsity`` of the minibatch's rows, rounded, at least one."""
        x = self.input_or_default(x)
        if k is None:
            k = pt.maximum(1, pt.cast(pt.round(self.sparsity * x.shape[0]), "int64"))
        r = self.decode(self.sparse_code(x, k))
        return {"cost": pt.mean(squared_error(x, r)), "mse": mse(r, x)}, []
