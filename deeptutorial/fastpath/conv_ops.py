"""Convolutions as three C ops: the forward map, its adjoint in the input, and in the kernel.

``deeptutorial.conv`` builds every convolution from PyTensor's ordinary ops and wraps each
in an inline ``OpFromGraph`` (``conv.ConvGraph``) that says what it computes. Every backend
compiles those graphs (PyTensor inlines them before its other rewrites), and they are what
``DEEPTUTORIAL_FASTPATH=0`` runs. Built from ordinary ops, a convolution's training step
makes many passes over memory that a convolution kernel does not (scatter-adds into
zero-filled buffers for the gradients of the shifted slices, copies that split strided
images into phases), each on one core.

``use_conv_ops`` replaces the marked graphs, before PyTensor inlines them, with ``ConvOp``:

``forward``
    ``y = conv2d(x, K)``: the patches of a block of output pixels gathered into a buffer that
    stays in cache, times the kernel as a ``(kh * kw * c) x f`` matrix;
``input_grad``
    ``dx``, the adjoint in ``x`` applied to ``dy`` (the transposed convolution): ``dy K'`` for
    a block of pixels, its patches added back where they came from; each image by one thread;
``kernel_grad``
    ``dK = patches(x)' dy``, each thread summing its blocks, the sums added at the end.

Each splits its work over the cores with OpenMP and makes single-threaded BLAS calls. Max
pooling after a convolution stays in ordinary ops, applied to the op's output. The results
are the same sums in another order (float32 rounding apart); ``tests/test_conv.py`` checks
each op against the ordinary graph, values and gradients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile import optdb
from pytensor.graph.basic import Apply
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.link.c.op import COp
from pytensor.link.c.params_type import ParamsType
from pytensor.scalar import int32
from pytensor.tensor.blas import ldflags
from pytensor.tensor.blas_headers import blas_header_text

NAME = "use_conv_ops"
C_SOURCE = Path(__file__).with_name("conv_ops.c")
VERSION = 2  # bump when conv_ops.c or the C code below changes
KINDS = ("forward", "input_grad", "kernel_grad")
GEOMETRY = ("stride", "top", "left", "h", "w", "kh", "kw", "oh", "ow")
threads = 1  # set by register()


class ConvOp(COp):
    """One of a convolution's three linear maps, for a fixed ``geometry``: ``(stride, top,
    left, h, w, kh, kw, oh, ow)`` (stride; padding before the first row and column; the
    input's, the kernel's and the output's height and width).

    ``forward``: ``(x (n, h, w, c), K (kh, kw, c, f)) -> y (n, oh, ow, f)``;
    ``input_grad``: ``(dy (n, oh, ow, f), K) -> dx (n, h, w, c)``;
    ``kernel_grad``: ``(x, dy) -> dK (kh, kw, c, f)``.
    """

    __props__ = ("kind", *GEOMETRY)
    # The geometry reaches the C code at run time: one compiled module serves every geometry.
    params_type = ParamsType(**{field: int32 for field in GEOMETRY})

    def __init__(self, kind: str, geometry: tuple[int, ...]):
        if kind not in KINDS or len(geometry) != len(GEOMETRY):
            raise ValueError(f"ConvOp({kind!r}, {geometry!r}): kind is one of {KINDS}, "
                             f"geometry {GEOMETRY}")
        self.kind = kind
        for field, value in zip(GEOMETRY, geometry):
            setattr(self, field, int(value))
        super().__init__()

    @property
    def geometry(self) -> tuple[int, ...]:
        return tuple(getattr(self, field) for field in GEOMETRY)

    def make_node(self, a, b):
        a, b = pt.as_tensor_variable(a), pt.as_tensor_variable(b)
        if a.type.ndim != 4 or b.type.ndim != 4 or a.dtype != b.dtype or \
                a.dtype not in ("float32", "float64"):
            raise TypeError(f"{self}: two 4-d float32 or float64 tensors of one dtype, got "
                            f"{a.type} and {b.type}")
        _, _, _, h, w, kh, kw, oh, ow = self.geometry
        if self.kind == "forward":  # x, K
            shape = (None, oh, ow, b.type.shape[3])
        elif self.kind == "input_grad":  # dy, K
            shape = (None, h, w, b.type.shape[2])
        else:  # x, dy
            shape = (kh, kw, a.type.shape[3], b.type.shape[3])
        return Apply(self, [a, b], [pt.tensor(dtype=a.dtype, shape=shape)])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        output_storage[0][0] = np.asarray(reference(self.kind, self.geometry, a, b),
                                          dtype=a.dtype)

    def infer_shape(self, fgraph, node, shapes):
        _, _, _, h, w, kh, kw, oh, ow = self.geometry
        (a_shape, b_shape) = shapes
        if self.kind == "forward":
            return [(a_shape[0], oh, ow, b_shape[3])]
        if self.kind == "input_grad":
            return [(a_shape[0], h, w, b_shape[2])]
        return [(kh, kw, a_shape[3], b_shape[3])]

    # C implementation ---------------------------------------------------------------------

    def c_support_code(self, **kwargs):
        return blas_header_text() + "\n" + C_SOURCE.read_text()

    def c_headers(self, **kwargs):
        return ["<string.h>", "<stdlib.h>", "omp.h"]

    def c_libraries(self, **kwargs):
        return ldflags()

    def c_lib_dirs(self, **kwargs):
        return ldflags(libs=False, libs_dir=True)

    def c_header_dirs(self, **kwargs):
        return ldflags(libs=False, include_dir=True)

    def c_compile_args(self, **kwargs):
        return [*ldflags(libs=False, flags=True), "-fopenmp", f"-DDT_CONV_THREADS={threads}"]

    def c_code_cache_version(self):
        return (VERSION, threads)

    def c_code(self, node, name, inputs, outputs, sub):
        dtype = node.inputs[0].dtype
        T, typenum = {"float32": ("float", "NPY_FLOAT32"),
                      "float64": ("double", "NPY_FLOAT64")}[dtype]
        fail, params = sub["fail"], sub["params"]
        a, b = inputs
        (out,) = outputs
        # each kind: the geometry's runtime sizes from its inputs, the output's shape, the call
        if self.kind == "forward":  # x, K
            sizes = ("g.n = PyArray_DIM(A, 0); g.c = PyArray_DIM(A, 3); g.f = PyArray_DIM(B, 3);"
                     " ok = PyArray_DIM(A, 1) == g.h && PyArray_DIM(A, 2) == g.w && "
                     "PyArray_DIM(B, 0) == g.kh && PyArray_DIM(B, 1) == g.kw && "
                     "PyArray_DIM(B, 2) == g.c;")
            dims, call = "{g.n, g.oh, g.ow, g.f}", f"dt_conv_forward_{T}"
        elif self.kind == "input_grad":  # dy, K
            sizes = ("g.n = PyArray_DIM(A, 0); g.f = PyArray_DIM(A, 3); g.c = PyArray_DIM(B, 2);"
                     " ok = PyArray_DIM(A, 1) == g.oh && PyArray_DIM(A, 2) == g.ow && "
                     "PyArray_DIM(B, 0) == g.kh && PyArray_DIM(B, 1) == g.kw && "
                     "PyArray_DIM(B, 3) == g.f;")
            dims, call = "{g.n, g.h, g.w, g.c}", f"dt_conv_input_grad_{T}"
        else:  # x, dy
            sizes = ("g.n = PyArray_DIM(A, 0); g.c = PyArray_DIM(A, 3); g.f = PyArray_DIM(B, 3);"
                     " ok = PyArray_DIM(A, 1) == g.h && PyArray_DIM(A, 2) == g.w && "
                     "PyArray_DIM(B, 0) == g.n && PyArray_DIM(B, 1) == g.oh && "
                     "PyArray_DIM(B, 2) == g.ow;")
            dims, call = "{g.kh, g.kw, g.c, g.f}", f"dt_conv_kernel_grad_{T}"
        return f"""
        {{
        dt_geom g;
        int ok;
        PyArrayObject *A = {a}, *B = {b}, *Ac = NULL, *Bc = NULL;
        g.h = {params}->h; g.w = {params}->w; g.kh = {params}->kh; g.kw = {params}->kw;
        g.oh = {params}->oh; g.ow = {params}->ow; g.s = {params}->stride;
        g.top = {params}->top; g.left = {params}->left;
        {sizes}
        if (!ok) {{
            PyErr_Format(PyExc_ValueError, "ConvOp {self.kind}: the inputs' shapes do not match "
                         "the geometry: images %dx%d, kernel %dx%d, outputs %dx%d",
                         g.h, g.w, g.kh, g.kw, g.oh, g.ow);
            {fail}
        }}
        npy_intp dims[4] = {dims};
        if (!{out} || PyArray_NDIM({out}) != 4 || !PyArray_IS_C_CONTIGUOUS({out}) ||
                PyArray_DIM({out}, 0) != dims[0] || PyArray_DIM({out}, 1) != dims[1] ||
                PyArray_DIM({out}, 2) != dims[2] || PyArray_DIM({out}, 3) != dims[3]) {{
            Py_XDECREF({out});
            {out} = (PyArrayObject*)PyArray_EMPTY(4, dims, {typenum}, 0);
            if (!{out}) {{ {fail} }}
        }}
        Ac = PyArray_GETCONTIGUOUS(A);
        Bc = PyArray_GETCONTIGUOUS(B);
        int status = (Ac && Bc) ? {call}(({T}*)PyArray_DATA(Ac), ({T}*)PyArray_DATA(Bc),
                                         ({T}*)PyArray_DATA({out}), &g) : -1;
        Py_XDECREF(Ac);
        Py_XDECREF(Bc);
        if (status != 0) {{
            if (!PyErr_Occurred()) PyErr_NoMemory();
            {fail}
        }}
        }}
        """


def _patches(x, geometry):
    """NumPy: the (n * oh * ow, kh * kw * c) patches of ``x`` (zeros under the padding)."""
    s, top, left, h, w, kh, kw, oh, ow = geometry
    n, _, _, c = x.shape
    padded = np.zeros((n, max(h + top, (oh - 1) * s + kh) + kh, max(w + left, (ow - 1) * s + kw)
                       + kw, c), dtype=x.dtype)
    padded[:, top:top + h, left:left + w] = x
    cols = [padded[:, i:i + (oh - 1) * s + 1:s, j:j + (ow - 1) * s + 1:s]
            for i in range(kh) for j in range(kw)]
    return np.concatenate(cols, axis=3).reshape(n * oh * ow, kh * kw * c)


def reference(kind: str, geometry: tuple[int, ...], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ConvOp``'s result computed with NumPy (its Python implementation)."""
    s, top, left, h, w, kh, kw, oh, ow = geometry
    if kind == "forward":
        return (_patches(a, geometry) @ b.reshape(-1, b.shape[3])).reshape(
            a.shape[0], oh, ow, b.shape[3])
    if kind == "kernel_grad":
        return (_patches(a, geometry).T @ b.reshape(-1, b.shape[3])).reshape(
            kh, kw, a.shape[3], b.shape[3])
    n, c = a.shape[0], b.shape[2]
    cols = (a.reshape(-1, a.shape[3]) @ b.reshape(-1, b.shape[3]).T).reshape(
        n, oh, ow, kh, kw, c)
    padded = np.zeros((n, max(h + top, (oh - 1) * s + kh) + kh,
                       max(w + left, (ow - 1) * s + kw) + kw, c), dtype=a.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, i:i + (oh - 1) * s + 1:s, j:j + (ow - 1) * s + 1:s] += cols[:, :, :, i, j]
    return padded[:, top:top + h, left:left + w]


# The rewrite -------------------------------------------------------------------------------

def _conv_graph_replacement(node):
    """The outputs that replace a ``conv.ConvGraph`` node, built from ``ConvOp``s."""
    from deeptutorial.conv import max_pool

    op = node.op
    kind, geometry, pool = op.kind, op.geometry, op.pool
    forward, input_grad, kernel_grad = (ConvOp(k, geometry) for k in KINDS)
    if kind == "conv2d":
        x, kernel = node.inputs
        y = forward(x, kernel)
        return [max_pool(y, pool) if pool > 1 else y]
    if kind == "conv2d_grad":
        x, kernel, _, dout = node.inputs
        if pool > 1:  # the gradient through the pooling, as PyTensor takes it
            y = forward(x, kernel)
            dy = pytensor.grad(None, y, known_grads={max_pool(y, pool): dout})
        else:
            dy = dout
        return [input_grad(dy, kernel), kernel_grad(x, dy)]
    if kind == "conv2d_transpose":
        y, kernel = node.inputs
        return [input_grad(y, kernel)]
    if kind == "conv2d_transpose_grad":
        y, kernel, _, dout = node.inputs
        return [forward(dout, kernel), kernel_grad(dout, y)]
    return None


@node_rewriter(None)
def use_conv_ops(fgraph, node):
    """A ``conv.ConvGraph`` (before PyTensor inlines it) -> the same map from ``ConvOp``s."""
    from deeptutorial.conv import ConvGraph

    if not isinstance(node.op, ConvGraph) or node.inputs[0].dtype not in ("float32", "float64"):
        return None
    outputs = _conv_graph_replacement(node)
    if outputs is None:
        return None
    return [pt.specify_shape(new, old.type.shape) if new.type != old.type else new
            for new, old in zip(outputs, node.outputs)]


registered = False


def register(n_threads: int) -> None:
    """Put ``use_conv_ops`` in PyTensor's fast_run rewrites for the C backend, with
    ``n_threads`` threads per op (once per process)."""
    global registered, threads
    threads = max(1, int(n_threads))
    if not registered:
        # before inline_ofg_expansion (-0.01), which would expand the marked graphs
        optdb.register(NAME, dfs_rewriter(use_conv_ops), "fast_run", "cxx_only",
                       position=-0.02)
        registered = True
