"""Winner-take-all autoencoders (Makhzani & Frey, 2015): the fully connected one, whose code
units each keep only their largest activations over the minibatch (lifetime sparsity), and the
convolutional one, whose feature maps each keep one pixel per example (spatial sparsity) and
that pixel for their largest examples over the minibatch only (lifetime sparsity)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytensor.tensor as pt

from deeptutorial import backends
from deeptutorial.autoencoder import Autoencoder, UntiedAutoencoder
from deeptutorial.checks import check_open_fraction, check_positive, check_symbolic_matrix, \
    random_state
from deeptutorial.classifier import classifier_figures, classify_codes
from deeptutorial.conv import conv2d, conv2d_transpose, max_pool
from deeptutorial.conv_autoencoder import as_images
from deeptutorial.losses import mse, squared_error
from deeptutorial.nn import glorot_uniform_kernel, identity, relu, shared_floatX, zeros_shared
from deeptutorial.utils import in_chunks


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

    With ``tied`` the dictionary is the encoder's transpose, ``W' = W^T`` (the paper's
    appendix ties them): each unit then detects the very element it draws.

    The competition needs a batch, so it is a training device only: ``encode`` gives the
    ReLU code without it, the features a classifier reads, as the paper uses them.
    """

    activation = staticmethod(relu)
    output_activation = staticmethod(identity)

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 n_visible: int = 784, n_hidden: int = 2000, sparsity: float = 0.05,
                 tied: bool = False):
        check_open_fraction("sparsity", sparsity)
        self.tied = bool(tied)
        super().__init__(numpy_rng, input=input, n_visible=n_visible, n_hidden=n_hidden,
                         loss="squared_error", encoder_scale=0.25, decoder_scale=0.25)
        self.sparsity = sparsity

    def encode(self, x):
        """The ReLU code, without the competition: the features."""
        return relu(pt.dot(x, self.W) + self.b)

    def dictionary(self) -> np.ndarray:
        """The decoder's elements, one column of ``n_visible`` pixels per unit."""
        return self.W.get_value() if self.tied else self.W_prime.get_value().T

    def sparse_code(self, x, k):
        """The code of the minibatch ``x`` in training: each unit's ``k`` winners kept."""
        return keep_lifetime_winners(self.encode(x), k)

    def features(self, x):
        """What a classifier reads: the ReLU code, no competition."""
        return self.encode(x)

    def training_reconstruction(self, x, k):
        """The reconstruction of the minibatch ``x`` from its training code."""
        return self.decode(self.sparse_code(x, k))

    def cost_terms(self, x=None, k=None) -> tuple[dict, list]:
        """``cost``: the squared reconstruction error per example (summed over pixels,
        averaged over examples) of the lifetime-sparse code; ``mse``: the same per pixel.
        ``k`` defaults to ``sparsity`` of the minibatch's rows, rounded, at least one."""
        return reconstruction_terms(self, x, k)


def reconstruction_terms(model, x=None, k=None) -> tuple[dict, list]:
    """Both WTA models' cost terms: ``cost``, the squared error per example of the
    reconstruction from the training code (``k`` winners per unit or map, by default
    ``sparsity`` of the minibatch, rounded, at least one), and ``mse``, the same per pixel."""
    x = model.input_or_default(x)
    if k is None:
        k = pt.maximum(1, pt.cast(pt.round(model.sparsity * x.shape[0]), "int64"))
    r = model.training_reconstruction(x, k)
    return {"cost": pt.mean(squared_error(x, r)), "mse": mse(r, x)}, []


def evaluate(model, k: int, splits: list, batch_size: int, classifier_epochs: int,
             classifier_lr: float, refit: bool = False) -> tuple[dict, np.ndarray]:
    """What the WTA scripts report of a trained ``model``: the test digits (the third of
    ``splits``, each ``(images, labels)``) reconstructed as in training, in minibatches of
    ``batch_size`` with ``k`` winners (the rows a whole minibatch holds), their errors, and
    the tutorials' logistic regression on the frozen ``features`` of every split
    (``classify_codes``; with ``refit``, refit on the training and validation codes).
    Returns the figures and the reconstructions."""
    test_x = splits[2][0]
    usable = len(test_x) // batch_size * batch_size
    # compiled for the current backend, with a static number of rows where JAX needs one
    reconstruct = backends.function_of_rows(lambda x: model.training_reconstruction(x, k))
    reconstruction = np.concatenate([reconstruct(test_x[i:i + batch_size])
                                     for i in range(0, usable, batch_size)])
    features = backends.function_of_rows(model.features)
    codes = [in_chunks(features, images, 500) for images, _ in splits]
    classifier = classify_codes(codes, [labels for _, labels in splits], batch_size,
                                classifier_epochs, classifier_lr, refit=refit)
    errors = (test_x[:usable] - reconstruction) ** 2
    return {"n_features": int(codes[0].shape[1]), "test_mse": float(np.mean(errors)),
            "test_squared_error": float(np.mean(np.sum(errors, axis=1))),
            "active_fraction_of_features": float(np.mean(codes[2] > 0)),
            **classifier_figures(classifier)}, reconstruction


def keep_spatial_winners(h):
    """``h`` (N, H, W, F) with all but the largest value of each feature map of each example
    set to zero: one winner per map and example (spatial sparsity).

    As for the lifetime winners, the mask is a comparison with the map's maximum and has no
    gradient, so the gradient reaches the winning pixel only. (A map whose maximum appears
    twice keeps both; a map of ReLU zeros keeps zeros.)"""
    return h * pt.ge(h, pt.max(h, axis=(1, 2), keepdims=True))


def spatial_winners(h):
    """Each feature map's winner in each example of ``h`` (N, H, W, F): its value and its
    pixel's index ``row * W + column``, both (N, F). The values carry the gradient (to the
    winning pixels); ``keep_spatial_winners(h)`` is zero but at these pixels."""
    flat = h.reshape((h.shape[0], -1, h.shape[3]))
    return pt.max(flat, axis=1), pt.argmax(flat, axis=1)


class ConvWTAAutoencoder(Autoencoder):
    """The convolutional winner-take-all autoencoder for 28 x 28 digits::

        h_0 = x (the image),  h_l = max(0, conv(h_{l-1}, W_l, 'same') + b_l)   (l = 1..L)
        v, p = spatial_winners(h_L)               (each map's largest pixel: value, place)
        v'  = keep_lifetime_winners(v, k)         (each map keeps its k largest of the batch)
        r   = deconv(v' at p, W') + b'            (the decoder: one element per winner)

    ``hidden_maps`` lists the maps of the encoder's layers before the last (none by default),
    ``maps`` the last layer's: the code. Every encoder kernel is ``kernel_size`` square, the
    decoder's ``decoder_size`` square (5 and 11, the paper's sizes). The decoder is linear, a
    transposed convolution (``deconv``) with stride 1: each nonzero code pixel adds its
    map's dictionary element ``W'[:, :, 0, m]``, scaled by its value and centred on its place.
    The cost is the squared error per image, ``mean_x ||r - x||^2``.

    Spatial sparsity leaves each map one pixel per image: the code says *where* each of the
    ``maps`` dictionary elements goes, and how strongly, and the reconstruction is at most
    ``maps`` placed, scaled elements. Lifetime sparsity is then the fully connected model's
    rule applied to the (N, maps) matrix of winners: each map keeps its winner for the ``k``
    images of the minibatch where it is largest, so no map can stand for every digit. With so
    few nonzero code pixels, the decoder adds ``maps x k`` elements to a blank canvas instead
    of convolving the whole mostly-zero code (``decode_winners``; ``decode`` is the
    convolution, for any code).

    The competitions exist in training only: ``encode`` gives the ReLU maps ``h_L`` without
    them and ``features`` their ``pool x pool`` max-pooling (``pool`` must divide ``side``),
    what a classifier reads, as the paper uses them.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 side: int = 28, maps: int = 16, hidden_maps: tuple[int, ...] = (),
                 kernel_size: int = 5, decoder_size: int = 11, sparsity: float = 0.2,
                 pool: int = 4):
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
        for name, value in (("side", side), ("maps", maps), ("kernel_size", kernel_size),
                            ("decoder_size", decoder_size), ("pool", pool),
                            *(("hidden_maps", m)
                                                              for m in hidden_maps)):
            check_positive(name, value, integer=True)
        if decoder_size % 2 == 0:
            raise ValueError(f"decoder_size must be odd (an element centred on its pixel), "
                             f"got {decoder_size}")
        check_open_fraction("sparsity", sparsity)
        self.side, self.maps, self.sparsity = side, maps, sparsity
        if side % pool:
            raise ValueError(f"pool {pool} does not divide the side of {side} pixels")
        self.hidden_maps, self.decoder_size, self.pool = tuple(hidden_maps), decoder_size, pool
        sizes = (1, *self.hidden_maps, maps)
        self.W = [shared_floatX(glorot_uniform_kernel(numpy_rng, kernel_size, kernel_size,
                                                      c_in, c_out), f"W{l + 1}")
                  for l, (c_in, c_out) in enumerate(pairwise(sizes))]
        self.b = [zeros_shared(c, f"b{l + 1}") for l, c in enumerate(sizes[1:])]
        self.W_prime = shared_floatX(glorot_uniform_kernel(numpy_rng, decoder_size,
                                                           decoder_size, 1, maps), "W_prime")
        self.b_prime = zeros_shared(1, "b_prime")
        self.x = pt.matrix("x") if input is None else input
        self.params = [*self.W, *self.b, self.W_prime, self.b_prime]

    def encode(self, x):
        """The ReLU feature maps of the last layer, (N, side, side, maps), no competition."""
        h = as_images(x, self.side)
        for W, b in zip(self.W, self.b):
            h = relu(conv2d(h, W, padding="same") + b)
        return h

    def features(self, x):
        """The features a classifier reads: ``encode(x)`` max-pooled in ``pool x pool``
        blocks, one row per image."""
        pooled = max_pool(self.encode(x), self.pool)
        return pooled.reshape((pooled.shape[0], -1))

    def winners(self, x, k):
        """The training code of the minibatch ``x``: each map's spatial winner (value and
        place, (N, maps) each), the value kept for the map's ``k`` largest images only."""
        values, places = spatial_winners(self.encode(x))
        return keep_lifetime_winners(values, k), places

    def sparse_code(self, x, k):
        """The training code as maps, (N, side, side, maps): zero but at the kept winners."""
        h = self.encode(x)
        values, _ = spatial_winners(h)
        kept = keep_lifetime_winners(values, k)
        return keep_spatial_winners(h) * pt.gt(kept, 0)[:, None, None, :]

    def decode(self, code):
        """The linear reconstruction of any code (N, side, side, maps), one image per row:
        the transposed convolution."""
        r = conv2d_transpose(code, self.W_prime, padding="same") + self.b_prime
        return r.reshape((r.shape[0], self.side * self.side))

    def decode_winners(self, values, places):
        """``decode`` of a code that is zero but at one pixel per map and image (value and
        place as ``winners`` gives them): each winner's dictionary element, scaled, added to
        a blank canvas (as large as the image and the elements' overhang) at its place."""
        n, side, size = values.shape[0], self.side, self.decoder_size
        canvas_side = side + size - 1
        # The canvas index of each element pixel: image, then row and column of the winner's
        # place plus the pixel's offset in the element, in one flat index (N, maps, size^2).
        rows, cols = places // side, places % side
        di, dj = np.divmod(np.arange(size * size), size)
        index = (pt.arange(n)[:, None, None] * canvas_side ** 2
                 + (rows[:, :, None] + di) * canvas_side + cols[:, :, None] + dj)
        elements = self.W_prime[:, :, 0, :].reshape((size * size, self.maps)).T  # (maps, size^2)
        added = values[:, :, None] * elements[None, :, :]
        canvas = pt.inc_subtensor(pt.zeros(n * canvas_side ** 2, dtype=added.dtype)[
            index.flatten()], added.flatten())
        half = size // 2
        image = canvas.reshape((n, canvas_side, canvas_side))[:, half:half + side,
                                                               half:half + side]
        return image.reshape((n, side * side)) + self.b_prime[0]

    def dictionary(self) -> np.ndarray:
        """The decoder's ``maps`` elements as rows of ``decoder_size ** 2`` pixels."""
        W = self.W_prime.get_value()
        return W[:, :, 0, :].reshape(-1, W.shape[3]).T

    def training_reconstruction(self, x, k):
        """The reconstruction of the minibatch ``x`` from its training code, the kept
        winners' elements placed."""
        return self.decode_winners(*self.winners(x, k))

    def cost_terms(self, x=None, k=None) -> tuple[dict, list]:
        """``cost``: the squared reconstruction error per image of the training code (summed
        over pixels, averaged over images); ``mse``: the same per pixel. ``k`` defaults to
        ``sparsity`` of the minibatch's images, rounded, at least one."""
        return reconstruction_terms(self, x, k)
