"""Convolutional autoencoders, stackable ones, and the convolutional classifier they start.

All three read MNIST as the other models do, one image per row of a matrix, and see it as a
(batch, 28, 28, 1) image inside the graph; the convolutions are those of ``deeptutorial.conv``
(channels last, kernels (kh, kw, in, out)).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.random import shared_rng
from pytensor.tensor.random.variable import RandomGeneratorSharedVariable

from deeptutorial.autoencoder import Autoencoder
from deeptutorial.checks import check_choice, check_non_negative, check_positive, \
    check_symbolic_matrix, random_state
from deeptutorial.conv import conv2d, conv2d_max_pool, conv2d_transpose, upsample_nearest
from deeptutorial.layers import LogisticRegression
from deeptutorial.losses import mean_pixel_cross_entropy, mse
from deeptutorial.nn import glorot_uniform_kernel, he_normal, relu, shared_floatX, zeros_shared
from deeptutorial.persistence import SavesParams

UPSAMPLING = ("transpose", "nearest")


def conv_relu_pool(h, W, b):
    """``max_pool(relu(conv2d(h, W, 'same') + b))``, the encoders' block, computed as
    ``relu(conv2d_max_pool(h, W) + b)``: adding a per-channel bias and the ReLU are increasing
    functions, so the maximum of a block can be taken first, and the bias and the ReLU then
    touch a quarter of the values (the gradient too); ``conv2d_max_pool`` pools the
    convolution's padded output before cutting it to size."""
    return relu(conv2d_max_pool(h, W, padding="same") + b)


def as_images(x, side: int, channels: int = 1):
    """Rows of ``side * side * channels`` values as (batch, side, side, channels) images."""
    return pt.specify_shape(x.reshape((x.shape[0], side, side, channels)),
                            (None, side, side, channels))


class ConvAutoencoder(Autoencoder):
    """A convolutional autoencoder for 28 x 28 digits, by default the shape of the best-known
    framework example::

        encoder   conv 3x3, 32 channels, 'same' + ReLU, max pool 2x2      28 -> 14
                  conv 3x3, 32 channels, 'same' + ReLU, max pool 2x2      14 -> 7
        decoder   transposed conv 3x3, stride 2, 32 channels + ReLU        7 -> 14
                  transposed conv 3x3, stride 2, 32 channels + ReLU       14 -> 28
                  conv 3x3, 1 channel, 'same' + sigmoid                   28 -> 28

    (28,353 parameters). With ``upsampling="nearest"`` each transposed convolution becomes a
    nearest-neighbour upsampling followed by a 3x3 'same' convolution (the same count). The
    cost is the binary cross-entropy per pixel, averaged over pixels and images, of the
    reconstruction against the clean input. With ``noise_std > 0`` it is a denoising
    autoencoder: during training only, the input is ``clip(x + noise_std * e, 0, 1)``,
    ``e ~ N(0, I)``.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input: pt.TensorVariable | None = None,
                 side: int = 28, channels: int = 32, upsampling: str = "transpose",
                 noise_std: float = 0.0,
                 pytensor_rng: RandomGeneratorSharedVariable | None = None):
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
        check_positive("side", side, integer=True)
        check_positive("channels", channels, integer=True)
        check_choice("upsampling", upsampling, UPSAMPLING)
        check_non_negative("noise_std", noise_std)
        if side % 4:
            raise ValueError(f"side {side} must be divisible by 4 (two 2x2 poolings)")
        self.side, self.channels, self.upsampling = side, channels, upsampling
        self.noise_std = float(noise_std)
        if noise_std > 0 and pytensor_rng is None:
            pytensor_rng = shared_rng(seed=numpy_rng.randint(2 ** 30), name="noise_rng")
        self.pytensor_rng = pytensor_rng
        c = channels

        def kernel(name, c_in, c_out):
            return shared_floatX(glorot_uniform_kernel(numpy_rng, 3, 3, c_in, c_out), name)

        self.W = [kernel("W1", 1, c), kernel("W2", c, c)]
        self.b = [zeros_shared(c, "b1"), zeros_shared(c, "b2")]
        # A transposed convolution's kernel is that of the forward convolution it undoes.
        self.W_prime = [kernel("W_prime1", c, c), kernel("W_prime2", c, c),
                        kernel("W_prime3", c, 1)]
        self.b_prime = [zeros_shared(c, "b_prime1"), zeros_shared(c, "b_prime2"),
                        zeros_shared(1, "b_prime3")]
        self.x = pt.matrix("x") if input is None else input
        self.params = [*self.W, *self.b, *self.W_prime, *self.b_prime]

    def encode(self, x):
        """The code: (batch, side/4, side/4, channels)."""
        h = as_images(x, self.side)
        for W, b in zip(self.W, self.b):
            h = conv_relu_pool(h, W, b)
        return h

    def decoder_logits(self, code):
        """The reconstruction before its sigmoid, one image per row."""
        g = code
        for k, (W, b) in enumerate(zip(self.W_prime[:2], self.b_prime[:2])):
            size = self.side // 2 ** (1 - k)
            if self.upsampling == "transpose":
                g = conv2d_transpose(g, W, stride=2, padding="same", output_shape=(size, size))
            else:
                g = conv2d(upsample_nearest(g), W, padding="same")
            g = relu(g + b)
        logits = conv2d(g, self.W_prime[2], padding="same") + self.b_prime[2]
        return logits.reshape((logits.shape[0], self.side * self.side))

    def decode(self, code):
        return pt.sigmoid(self.decoder_logits(code))

    def add_noise(self, x, rng: RandomGeneratorSharedVariable | None = None):
        """``clip(x + noise_std * e, 0, 1)`` and the generator's update (none without noise);
        ``rng`` draws the noise from another stream than the training one."""
        if self.noise_std == 0:
            return x, []
        rng = self.pytensor_rng if rng is None else rng
        next_rng, e = rng.normal(0, 1, size=x.shape)
        return pt.clip(x + self.noise_std * e, 0, 1).astype(x.dtype), [(rng, next_rng)]

    def cost_terms(self, x=None) -> tuple[dict, list]:
        """``cost``: the mean per-pixel cross-entropy of the reconstruction of the (noisy)
        input against the clean one; ``mse``: the mean squared error of the same."""
        x = self.input_or_default(x)
        noisy, rng_updates = self.add_noise(x)
        logits = self.decoder_logits(self.encode(noisy))
        return {"cost": mean_pixel_cross_entropy(x, logits),
                "mse": mse(pt.sigmoid(logits), x)}, rng_updates


class PoolingConvAutoencoder(Autoencoder):
    """One layer of a stacked convolutional autoencoder (Masci et al., 2011)::

        code            h = max_pool(relu(conv(x, W) + b))                 (H/2, W/2, F)
        reconstruction  r = out(conv(upsample(h), W_prime) + b_prime)      (H, W, C)

    ``x`` is an image batch (N, H, W, C), or rows of ``side * side * channels`` values for the
    first layer. The first layer reconstructs pixels (``out`` = sigmoid, cross-entropy per
    pixel); a deeper layer reconstructs the non-negative code of the layer below (``out`` =
    ReLU, squared error). The max pooling makes the code sparse and translation tolerant, the
    paper's reason for it.
    """

    def __init__(self, numpy_rng: np.random.RandomState, input=None, side: int = 28,
                 in_channels: int = 1, filters: int = 32, kernel_size: int = 3,
                 first: bool = True):
        numpy_rng = random_state(numpy_rng)
        check_symbolic_matrix("input", input)
        for name, value in (("side", side), ("in_channels", in_channels), ("filters", filters),
                            ("kernel_size", kernel_size)):
            check_positive(name, value, integer=True)
        if side % 2:
            raise ValueError(f"side {side} must be even (2x2 pooling)")
        self.side, self.in_channels, self.filters, self.first = side, in_channels, filters, first
        k = kernel_size
        self.W = shared_floatX(glorot_uniform_kernel(numpy_rng, k, k, in_channels, filters), "W")
        self.b = zeros_shared(filters, "b")
        self.W_prime = shared_floatX(glorot_uniform_kernel(numpy_rng, k, k, filters, in_channels),
                                     "W_prime")
        self.b_prime = zeros_shared(in_channels, "b_prime")
        self.x = (pt.matrix("x") if first else pt.tensor4("h")) if input is None else input
        self.params = [self.W, self.b, self.W_prime, self.b_prime]

    def images(self, x):
        return as_images(x, self.side, self.in_channels) if x.ndim == 2 else x

    def encode(self, x):
        return conv_relu_pool(self.images(x), self.W, self.b)

    def decoder_preactivation(self, code):
        return conv2d(upsample_nearest(code), self.W_prime, padding="same") + self.b_prime

    def decode(self, code):
        a = self.decoder_preactivation(code)
        return pt.sigmoid(a) if self.first else relu(a)

    def cost_terms(self, x=None) -> tuple[dict, list]:
        x = self.images(self.input_or_default(x))
        a = self.decoder_preactivation(self.encode(x))
        if self.first:
            flat = lambda t: t.reshape((t.shape[0], -1))  # noqa: E731
            cost = mean_pixel_cross_entropy(flat(x), flat(a))
        else:
            cost = mse(relu(a), x)
        return {"cost": cost}, []


class ConvClassifier(SavesParams):
    """conv 3x3 + ReLU + max pool, twice, then a fully connected ReLU layer and the tutorials'
    ``LogisticRegression``::

        (28, 28, 1) -> (14, 14, F1) -> (7, 7, F2) -> hidden units -> 10 classes

    trained on ``-mean log P(Y = y | x)``. Its convolutions start from Glorot-uniform kernels,
    or, given ``pretrained`` (two ``PoolingConvAutoencoder`` layers), as copies of their
    encoders: the stacked convolutional autoencoder's unsupervised pretraining.
    """

    def __init__(self, numpy_rng: np.random.RandomState, filters: tuple[int, int] = (32, 64),
                 n_hidden: int = 256, n_classes: int = 10, side: int = 28,
                 pretrained: list[PoolingConvAutoencoder] | None = None):
        numpy_rng = random_state(numpy_rng)
        f1, f2 = filters
        for name, value in (("filters", f1), ("filters", f2), ("n_hidden", n_hidden)):
            check_positive(name, value, integer=True)
        if side % 4:
            raise ValueError(f"side {side} must be divisible by 4 (two 2x2 poolings)")
        self.side = side
        shapes = [(3, 3, 1, f1), (3, 3, f1, f2)]
        self.W, self.b = [], []
        for k, shape in enumerate(shapes, start=1):
            if pretrained is None:
                W_value = glorot_uniform_kernel(numpy_rng, *shape)
                b_value = np.zeros(shape[-1])
            else:
                layer = pretrained[k - 1]
                if layer.W.get_value().shape != shape:
                    raise ValueError(f"pretrained layer {k} has kernels "
                                     f"{layer.W.get_value().shape}, the classifier needs {shape}")
                W_value, b_value = layer.W.get_value().copy(), layer.b.get_value().copy()
            self.W.append(shared_floatX(W_value, f"W{k}"))
            self.b.append(shared_floatX(b_value, f"b{k}"))
        n_flat = (side // 4) ** 2 * f2
        self.W_hidden = shared_floatX(he_normal(numpy_rng, n_flat, n_hidden), "W_hidden")
        self.b_hidden = zeros_shared(n_hidden, "b_hidden")
        self.x, self.y = pt.matrix("x"), pt.ivector("y")
        h = as_images(self.x, side)
        for W, b in zip(self.W, self.b):
            h = conv_relu_pool(h, W, b)
        hidden = relu(pt.dot(h.reshape((h.shape[0], n_flat)), self.W_hidden) + self.b_hidden)
        self.top = LogisticRegression(hidden, n_hidden, n_classes)
        self.top.W.name, self.top.b.name = "W_out", "b_out"
        self.cost = self.top.negative_log_likelihood(self.y)
        self.errors = self.top.errors(self.y)
        self.params = [*self.W, *self.b, self.W_hidden, self.b_hidden, *self.top.params]

    def named_params(self) -> dict:
        return {p.name: p for p in self.params}
