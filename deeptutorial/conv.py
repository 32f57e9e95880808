"""2-D convolution, pooling and upsampling built from PyTensor's ordinary ops.

PyTensor 3 has no neural-network convolution (Theano's ``conv2d`` and pooling were removed), so
this module builds them in the graph. Every function takes and returns PyTensor tensors, and
``pytensor.grad`` differentiates through all of them like any other expression.

**Layout.** Images are ``(batch, height, width, channels)`` ("NHWC", channels last); kernels are
``(kernel_height, kernel_width, in_channels, out_channels)``. Channels last makes the channel
axis the fastest-varying one, so gathering patches and reshaping them into a matrix needs no
transposition.

**Convolution as matrix products.** For a ``k x k`` kernel, each output pixel is a sum over
the ``k * k`` kernel positions of a product between the ``C`` input values under that
position and the position's ``(C, F)`` slice of the kernel. ``conv2d`` pads the input with
zeros into a contiguous array and sees it as a matrix with one row of ``C`` values per pixel.
Give every output pixel the row of the padded pixel at its kernel's top-left corner; then the
input under kernel position ``(i, j)`` is, for all output pixels at once, the matrix's rows
shifted by ``i * padded_width + j``: a contiguous range of rows, a view, not a copy. So the
convolution is ``k * k`` matrix products of row ranges with kernel slices, added up. The
outputs come out on the padded grid, and the rows that fall on the padding (the kernel
hanging over the right or bottom edge) are cut off at the end. With few input channels the
``k * k`` ranges are joined into patches of ``k * k * C`` columns for one product instead: a
small copy that turns many thin products into one. With few output channels the order turns
round: one product of the whole padded matrix with all ``k * k`` kernel slices side by side,
then a sum of the ``k * k`` shifted row ranges of its columns. (Shifting first, each input
gradient of a one-channel output would be an outer product as large as the input.) A stride
``s`` splits the padded input into ``s * s`` phases (every ``s``-th row and column, from each
offset), gathered by one transposing copy; each phase sees only the kernel positions of its
offset, with stride 1. (Like the networks' layers, it computes a cross-correlation: the
kernel is not flipped.)

**Padding.** ``"valid"`` uses only positions where the kernel fits inside the input:
``out = (in - k) // s + 1``. ``"same"`` pads so that ``out = ceil(in / s)``, with the extra
row or column, if any, at the bottom and right (TensorFlow's rule).

**The transposed convolution** is the adjoint of the convolution: the linear map ``T`` with
``<conv2d(x), y> = <x, T(y)>`` for all ``x`` and ``y``. It maps a ``stride``-times smaller image
back to the larger one, and is what a decoder uses to upsample with learnt weights. It is built
as exactly that: the gradient of ``sum(conv2d(x, kernel) * y)`` with respect to ``x``, which
PyTensor expresses with the same slices run backwards (each kernel position adds its share
into the padded image).

**One op per convolution.** Each function wraps its graph of ordinary ops in an inline
``OpFromGraph`` that says what it computes (``ConvGraph``: the kind of map and its geometry),
and so does the gradient of each. PyTensor inlines these before its own rewrites, so every
backend compiles the ordinary ops; with PyTensor's C backend, ``deeptutorial.fastpath``
replaces each marked graph by a convolution op in C first (``fastpath/conv_ops.py``).

Bad shapes are refused when the graph is built, with a ``ValueError`` naming the values.
"""

from __future__ import annotations

import functools

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.builders import OpFromGraph
from pytensor.graph import graph_replace

PADDINGS = ("valid", "same")
# Below this many input channels conv2d gathers patches for one product; below this many
# output channels it multiplies by all kernel positions first and shifts the products; else
# it makes one product per kernel position. Each measured fastest where it is used.
GATHER_BELOW_CHANNELS = 8
MULTIPLY_FIRST_BELOW_OUTPUTS = 8


def _static(shape, what: str) -> tuple[int, ...]:
    if any(dim is None for dim in shape):
        raise ValueError(f"{what} needs a static shape (use pt.tensor4(shape=...) or "
                         f"specify_shape), got {shape}")
    return tuple(int(dim) for dim in shape)


def _stated(variable):
    """``variable`` with the shape of its value stated in the graph, if it is a shared
    variable (PyTensor gives those no static shape); others are returned as they are."""
    if any(dim is None for dim in variable.type.shape) and hasattr(variable, "get_value"):
        return pt.specify_shape(variable, variable.get_value(borrow=True).shape)
    return variable


def _kernel(kernel):
    """``(kernel, its shape)``, the shape static."""
    kernel = _stated(kernel)
    if kernel.type.ndim != 4:
        raise ValueError(f"a kernel is (kh, kw, in_channels, out_channels), got "
                         f"{kernel.type.ndim} dimensions")
    return kernel, _static(kernel.type.shape, "the kernel")


def _operands(images, kernel, stride):
    """The checked operands of a convolution: the images and kernel with static shapes, the
    kernel's shape, the images' (height, width, channels) and the stride."""
    stride = _check_stride(stride)
    kernel, kernel_shape = _kernel(kernel)
    images = _stated(images)
    size = _static(images.type.shape[1:], "the input's height, width and channels")
    return images, kernel, kernel_shape, size, stride


def _check_stride(stride) -> int:
    if not (isinstance(stride, int) and not isinstance(stride, bool) and stride >= 1):
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    return stride


def output_size(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """``(out, pad_before, pad_after)`` of one spatial axis."""
    if padding == "valid":
        if kernel > size:
            raise ValueError(f"kernel {kernel} is larger than the input's {size} pixels "
                             f"('valid' padding)")
        return (size - kernel) // stride + 1, 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return out, total // 2, total - total // 2
    raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")


def conv2d(x, kernel, stride: int = 1, padding: str = "valid"):
    """Convolve ``x`` (N, H, W, C) with ``kernel`` (kh, kw, C, F): (N, out_h, out_w, F).

    Built from matrix products over shifted row ranges of the padded input (see the module
    docstring). The kernel's shape must be static (a shared variable's is), and so must
    ``x``'s height, width and channels.
    """
    x, kernel, geometry = _geometry(x, kernel, stride, padding)
    return ConvGraph.of("conv2d", geometry, padding, 1, x.type, kernel.type,
                        _constructions())(x, kernel)


def _conv2d_graph(x, kernel, stride: int, padding: str):
    """``conv2d`` from ordinary ops."""
    grid, out_h, out_w = _conv2d_on_grid(x, kernel, stride, padding)
    return pt.specify_shape(grid[:, :out_h, :out_w, :], (None, out_h, out_w, grid.type.shape[3]))


def conv2d_max_pool(x, kernel, size: int = 2, padding: str = "same"):
    """``max_pool(conv2d(x, kernel, 1, padding), size)``, pooled before the cut.

    ``conv2d`` computes its outputs on the padded grid and cuts the rows and columns that fall
    on the padding away; the gradient of that cut scatters into a zero grid as large as the
    output. Here the grid is pooled first (its blocks line up with the output's, which starts
    at the grid's corner) and the much smaller pooled result is cut. The output's height and
    width must be multiples of ``size``.
    """
    size = _check_stride(size)
    x, kernel, geometry = _geometry(x, kernel, 1, padding)
    out_h, out_w = geometry[-2:]
    if out_h % size or out_w % size:
        raise ValueError(f"pool size {size} does not divide the convolution's {out_h} x "
                         f"{out_w} output")
    return ConvGraph.of("conv2d", geometry, padding, size, x.type, kernel.type,
                        _constructions())(x, kernel)


def _conv2d_max_pool_graph(x, kernel, size: int, padding: str):
    """``conv2d_max_pool`` from ordinary ops."""
    grid, out_h, out_w = _conv2d_on_grid(x, kernel, 1, padding)
    _, grid_h, grid_w, c_out = grid.type.shape
    rows, cols = grid_h // size * size, grid_w // size * size  # whole blocks, the output in them
    pooled = max_pool(grid[:, :rows, :cols, :], size)
    return pt.specify_shape(pooled[:, :out_h // size, :out_w // size, :],
                            (None, out_h // size, out_w // size, c_out))


def _geometry(x, kernel, stride, padding):
    """The checked operands of ``conv2d`` and its geometry ``(stride, top, left, h, w, kh, kw,
    out_h, out_w)``."""
    x, kernel, (kh, kw, c_in, _), (h, w, c), s = _operands(x, kernel, stride)
    if c != c_in:
        raise ValueError(f"the input has {c} channels, the kernel expects {c_in}")
    out_h, top, _ = output_size(h, kh, s, padding)
    out_w, left, _ = output_size(w, kw, s, padding)
    return x, kernel, (s, top, left, h, w, kh, kw, out_h, out_w)


def _conv2d_on_grid(x, kernel, stride: int, padding: str):
    """``conv2d``'s outputs on its padded grid, (N, grid_h, grid_w, F), the output being the
    top-left (out_h, out_w) corner; and out_h, out_w."""
    x, kernel, (kh, kw, c_in, c_out), (h, w, c), s = _operands(x, kernel, stride)
    if c != c_in:
        raise ValueError(f"the input has {c} channels, the kernel expects {c_in}")
    out_h, top, _ = output_size(h, kh, s, padding)
    out_w, left, _ = output_size(w, kw, s, padding)
    # The grid of one phase: each output pixel, and the rows and columns its kernel reaches.
    grid_h, grid_w = out_h + (kh - 1) // s, out_w + (kw - 1) // s
    n = x.shape[0]
    # Zeros around x, and one more image of zeros so that every shifted range stays inside.
    padded = pt.zeros((n + 1, s * grid_h, s * grid_w, c), dtype=x.dtype)
    padded = pt.set_subtensor(padded[:-1, top:top + h, left:left + w, :],
                              x[:, :s * grid_h - top, :s * grid_w - left, :])
    # One output row per grid pixel. (The pixel count is one int64 constant: written as
    # n * grid_h * grid_w, PyTensor 3.0.7 folded 30 * 30 in the constants' int8 type, and the
    # compiled graph sized a buffer for -124 * n rows.)
    m = n * np.int64(grid_h * grid_w)
    if s == 1:
        # The padded images as the matrix itself, not as the only phase of a stack: the
        # gradient of taking phase 0 of a stack would copy the whole matrix's gradient into
        # a zero-filled stack of one.
        phases = [padded.reshape((-1, c))]
    else:  # one transposing copy puts each phase's pixels together, phase after phase
        blocks = padded.reshape((n + 1, grid_h, s, grid_w, s, c))
        phases = blocks.dimshuffle(2, 4, 0, 1, 3, 5).reshape((s * s, -1, c))
    products = []
    for p in range(s):
        for q in range(s):
            taps = [(i, j) for i in range(p, kh, s) for j in range(q, kw, s)]
            if not taps:
                continue
            rows = phases[p * s + q]
            starts = [(i // s) * grid_w + j // s for i, j in taps]
            weights = [kernel[i, j] for i, j in taps]
            if c < GATHER_BELOW_CHANNELS:  # few channels: one product over gathered patches
                products.append(pt.dot(pt.concatenate([rows[o:o + m] for o in starts], axis=1),
                                       pt.concatenate(weights, axis=0)))
            elif c_out < MULTIPLY_FIRST_BELOW_OUTPUTS:  # few outputs: multiply, then shift
                every = pt.dot(rows, pt.concatenate(weights, axis=1))
                products += [every[o:o + m, t * c_out:(t + 1) * c_out]
                             for t, o in enumerate(starts)]
            else:  # many: one product per kernel position, no copy of the input
                products += [pt.dot(rows[o:o + m], k) for o, k in zip(starts, weights)]
    grid = sum(products).reshape((n, grid_h, grid_w, c_out))
    return pt.specify_shape(grid, (None, grid_h, grid_w, c_out)), out_h, out_w


def conv2d_transpose(y, kernel, stride: int = 1, padding: str = "valid",
                     output_shape: tuple[int, int] | None = None):
    """The adjoint of ``conv2d(., kernel, stride, padding)``: maps ``y`` (N, h, w, F) to
    (N, H, W, C) for the kernel (kh, kw, C, F) of the forward convolution.

    ``output_shape`` is ``(H, W)``; by default the largest image the forward convolution maps
    to ``(h, w)`` (``h * stride`` for ``"same"``). A shape the forward convolution would not
    map to ``(h, w)`` is refused.
    """
    y, kernel, (kh, kw, c_in, c_out), (h, w, f), stride = _operands(y, kernel, stride)
    if f != c_out:
        raise ValueError(f"the input has {f} channels, the kernel maps {c_out} to {c_in}")
    if output_shape is None:
        output_shape = tuple(n * stride if padding == "same" else (n - 1) * stride + k
                             for n, k in ((h, kh), (w, kw)))
    big_h, big_w = (int(v) for v in output_shape)
    for axis, big, small, k in (("height", big_h, h, kh), ("width", big_w, w, kw)):
        if big < 1 or output_size(big, k, stride, padding)[0] != small:
            raise ValueError(f"a {axis} of {big} does not convolve to {small} with kernel {k}, "
                             f"stride {stride} and {padding!r} padding: no such output shape")
    top, left = (output_size(big, k, stride, padding)[1] for big, k in ((big_h, kh), (big_w, kw)))
    geometry = (stride, top, left, big_h, big_w, kh, kw, h, w)
    return ConvGraph.of("conv2d_transpose", geometry, padding, 1, y.type, kernel.type,
                        _constructions())(y, kernel)


def _conv2d_transpose_graph(y, kernel, geometry: tuple[int, ...], padding: str):
    """``conv2d_transpose`` from ordinary ops: the gradient of ``sum(conv2d(x, kernel) * y)``
    in ``x``, with ``x`` zeros (the gradient does not depend on it)."""
    stride, _, _, big_h, big_w = geometry[:5]
    c_in = kernel.type.shape[2]
    x = pt.tensor4("x", shape=(None, big_h, big_w, c_in), dtype=y.dtype)
    zeros = pt.zeros((y.shape[0], big_h, big_w, c_in), dtype=y.dtype)
    adjoint = pytensor.grad(pt.sum(_conv2d_graph(x, kernel, stride, padding) * y), x)
    return pt.specify_shape(graph_replace(adjoint, {x: zeros}, strict=False),
                            (None, big_h, big_w, c_in))


class ConvGraph(OpFromGraph):
    """A convolution's graph of ordinary ops, marked with what it computes.

    ``kind`` is ``"conv2d"`` (``pool`` > 1: followed by ``max_pool(., pool)``),
    ``"conv2d_transpose"``, or either's gradient (``kind + "_grad"``: the inputs and the
    output's cotangent in, the inputs' gradients out); ``geometry`` is ``(stride, top, left, h,
    w, kh, kw, out_h, out_w)`` of the forward convolution (``h, w`` the large images).
    PyTensor inlines the graph before its own rewrites (``inline=True``), so every backend
    compiles the ordinary ops; the fast path's ``use_conv_ops`` rewrite replaces the marked
    graph by convolution ops in C first (``deeptutorial.fastpath.conv_ops``). The gradient of a
    forward graph is a marked graph too, for the same reason.
    """

    def __init__(self, kind: str, geometry: tuple[int, ...], padding: str, pool: int,
                 inputs: list, outputs: list, pullback=None):
        super().__init__(inputs, outputs, inline=True, name=kind, pullback=pullback)
        self.kind, self.geometry, self.padding, self.pool = kind, geometry, padding, pool

    @staticmethod
    @functools.cache
    def of(kind: str, geometry: tuple[int, ...], padding: str, pool: int, a_type, b_type,
           constructions: tuple[int, int]) -> ConvGraph:
        """The marked forward graph (``"conv2d"`` or ``"conv2d_transpose"``) for inputs of
        these types, with its marked gradient graph; one op per distinct convolution.
        ``constructions`` is the thresholds that choose conv2d's construction (part of the key:
        the tests change them)."""
        a, b = a_type(), b_type()
        out = _forward_graph(kind, geometry, padding, pool, a, b)
        # The gradient: (a, b, the output, its cotangent) -> (da, db), as PyTensor calls an
        # OpFromGraph given as a pullback. The output is not read: what the gradient needs of
        # the forward pass (a pooling's maxima) it recomputes from the inputs, and PyTensor
        # merges that with the forward pass once the graphs are inlined or replaced.
        d = out.type()
        grads = pytensor.grad(None, [a, b], known_grads={out: d})
        a2, b2, out2, d2 = a.type(), b.type(), out.type(), d.type()
        grads = graph_replace(grads, {a: a2, b: b2, d: d2}, strict=False)
        gradient = ConvGraph(kind + "_grad", geometry, padding, pool, [a2, b2, out2, d2], grads)
        return ConvGraph(kind, geometry, padding, pool, [a, b], [out], pullback=gradient)


def _constructions() -> tuple[int, int]:
    return GATHER_BELOW_CHANNELS, MULTIPLY_FIRST_BELOW_OUTPUTS


def _forward_graph(kind, geometry, padding, pool, a, b):
    if kind == "conv2d_transpose":
        return _conv2d_transpose_graph(a, b, geometry, padding)
    if pool > 1:
        return _conv2d_max_pool_graph(a, b, pool, padding)
    return _conv2d_graph(a, b, geometry[0], padding)


def max_pool(x, size: int = 2):
    """The maximum of each ``size x size`` block of ``x`` (N, H, W, C): (N, H/size, W/size, C).

    Two maxima over reshapes: of each ``size`` consecutive rows, then of each ``size``
    consecutive columns of the result, each a reduction over a middle axis between contiguous
    ones (one reduction over both block axes of a 6-D reshape measured slower). The gradient
    flows to the maximum of each block. ``size`` must divide H and W."""
    size = _check_stride(size)
    x = _stated(x)
    _, h, w, c = x.type.shape
    h, w, c = _static((h, w, c), "the input's height, width and channels")
    if h % size or w % size:
        raise ValueError(f"pool size {size} does not divide the input's {h} x {w} pixels")
    n = x.shape[0]
    rows = pt.max(x.reshape((n * (h // size), size, w * c)), axis=1)
    blocks = pt.max(rows.reshape((n * (h // size) * (w // size), size, c)), axis=1)
    return pt.specify_shape(blocks.reshape((n, h // size, w // size, c)),
                            (None, h // size, w // size, c))


def upsample_nearest(x, factor: int = 2):
    """Each pixel of ``x`` (N, H, W, C) repeated ``factor`` times along both axes."""
    factor = _check_stride(factor)
    x = _stated(x)
    _, h, w, c = x.type.shape
    h, w, c = _static((h, w, c), "the input's height, width and channels")
    return pt.specify_shape(pt.repeat(pt.repeat(x, factor, axis=1), factor, axis=2),
                            (None, h * factor, w * factor, c))
