"""Batch-size-1 steps with each weight matrix read once: the row-pass op and its rewrites.

At batch size 1 a training step is matrix-vector products and rank-1 updates (GEMV and GER),
each a full pass over a weight matrix of a few megabytes, and the passes, not the arithmetic,
set the time. PyTensor compiles the SdA's steps into more passes than the maths needs:

* a tied dA step updates ``W`` twice, ``W += -lr x~' dh`` and ``W += -lr dz' h``: two
  read-write passes where one does;
* a fine-tuning layer reads ``W`` for the gradient of the layer below (``W d``) and again for
  its own update (``W += -lr h' d``); both only need ``W`` as it was, so one pass can do both;
* the product ``x W`` with an input row of MNIST pixels, or of a corrupted code, reads every
  row of ``W`` although most entries of ``x`` are zero (most of a digit's pixels are blank); the
  update ``W += -lr x' d`` of the first layer likewise writes rows it leaves unchanged.

``RowPass`` walks the rows of ``W`` once and does, for each row, the product's share and the
update's, skipping the rows a zero entry leaves alone. Three rewrites put it in the compiled
graph, after PyTensor's BLAS rewrites have made the GEMVs and in-place GERs:

``fuse_rank_one_updates``
    ``ger(ger(W, a, u1, v1), b, u2, v2)`` and a lone in-place ``ger`` -> a ``RowPass``
    update (rank 2 or 1);
``fuse_product_into_update``
    a GEMV reading ``W`` (or ``W.T``) and a ``RowPass`` update of ``W`` that do not depend on
    each other -> one ``RowPass`` doing both;
``skip_zero_inputs``
    what is left of ``gemv(z, a, W.T, x, b)`` (``x W``) -> a ``RowPass`` product that skips
    the rows of zero ``x`` entries.

The results are the same sums, added in another order: float32 rounding apart, the steps do
not change (``tests/test_same_maths.py`` compares seeded runs with ones recorded before).
With several cores each thread owns a fixed block of rows, so at batch size 1 each core keeps
its share of the weights in its own cache from step to step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytensor.tensor as pt
from pytensor.compile import optdb
from pytensor.graph.basic import Apply
from pytensor.graph.traversal import ancestors
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.link.c.op import COp
from pytensor.tensor.blas_c import CGemv, CGer
from pytensor.tensor.elemwise import DimShuffle

NAMES = ("fuse_rank_one_updates", "fuse_product_into_update", "skip_zero_inputs")
C_SOURCE = Path(__file__).with_name("row_pass.c")
VERSION = 5  # bump when row_pass.c or the C code below changes
PRODUCTS = (None, "rows", "cols")  # no product, g = W x, g = x W
threads = 1  # set by register()


class RowPass(COp):
    """One pass over the rows of ``W``: ``g = beta z + alpha W x`` (``product="rows"``) or
    ``g = beta z + alpha x W`` (``"cols"``), computed with ``W`` as it was, and
    ``W += c1 u1 v1' + c2 u2 v2'`` (``n_terms`` of the rank-1 terms, 0 to 2) in place.

    Inputs, in order: ``W``; ``c, u, v`` for each term; ``alpha, x, beta, z`` when there is a
    product. Outputs: the updated ``W`` when ``n_terms`` > 0 (it destroys its input ``W``),
    then ``g`` when there is a product. ``beta == 0`` ignores ``z``. All inputs share one
    float dtype; the scalars are 0-d tensors.
    """

    __props__ = ("n_terms", "product")

    def __init__(self, n_terms: int, product: str | None):
        if n_terms not in (0, 1, 2) or product not in PRODUCTS:
            raise ValueError(f"RowPass(n_terms={n_terms!r}, product={product!r}): n_terms "
                             f"is 0, 1 or 2 and product one of {PRODUCTS}")
        if n_terms == 0 and product is None:
            raise ValueError("RowPass needs an update, a product or both")
        self.n_terms, self.product = n_terms, product
        self.destroy_map = {0: [0]} if n_terms else {}
        super().__init__()

    def make_node(self, W, *rest):
        W = pt.as_tensor_variable(W)
        expected = 3 * self.n_terms + (4 if self.product else 0)
        if len(rest) != expected:
            raise TypeError(f"{self} takes W and {expected} more inputs, got {len(rest)}")
        rest = [pt.as_tensor_variable(r) for r in rest]
        if W.type.ndim != 2 or W.dtype not in ("float32", "float64"):
            raise TypeError(f"{self}: W must be a float32 or float64 matrix, got {W.type}")
        for r in rest:
            if r.dtype != W.dtype:
                raise TypeError(f"{self}: every input must be {W.dtype}, got {r.type}")
        scalars = [rest[3 * k] for k in range(self.n_terms)]
        vectors = [v for k in range(self.n_terms) for v in rest[3 * k + 1:3 * k + 3]]
        if self.product:
            alpha, x, beta, z = rest[3 * self.n_terms:]
            scalars += [alpha, beta]
            vectors += [x, z]
        if any(s.type.ndim != 0 for s in scalars) or any(v.type.ndim != 1 for v in vectors):
            raise TypeError(f"{self}: c, alpha and beta must be scalars, u, v, x and z vectors")
        outputs = [W.type()] if self.n_terms else []
        if self.product:
            outputs.append(pt.vector(dtype=W.dtype, shape=(None,)))
        return Apply(self, [W, *rest], outputs)

    def _unpack(self, inputs):
        W, rest = inputs[0], list(inputs[1:])
        terms = [tuple(rest[3 * k:3 * k + 3]) for k in range(self.n_terms)]
        product = tuple(rest[3 * self.n_terms:]) if self.product else None
        return W, terms, product

    def perform(self, node, inputs, output_storage):
        W, terms, product = self._unpack(inputs)
        m, n = W.shape
        outputs = []
        if product is not None:
            alpha, x, beta, z = product
            want = m if self.product == "rows" else n
            if len(x) != (n if self.product == "rows" else m) or (beta != 0 and len(z) != want):
                raise ValueError(f"{self}: W {W.shape}, x {x.shape}, z {z.shape} do not match")
            g = alpha * (W @ x if self.product == "rows" else x @ W)
            if beta != 0:
                g = g + beta * z
            g = np.asarray(g, dtype=W.dtype)
        for c, u, v in terms:
            if u.shape != (m,) or v.shape != (n,):
                raise ValueError(f"{self}: W {W.shape}, u {u.shape}, v {v.shape} do not match")
        if terms:
            if not self.destroy_map:
                W = W.copy()
            for c, u, v in terms:
                W += np.outer(c * u, v).astype(W.dtype)
            outputs.append(W)
        if product is not None:
            outputs.append(g)
        for storage, value in zip(output_storage, outputs):
            storage[0] = value

    # C implementation ---------------------------------------------------------------------

    def c_support_code(self, **kwargs):
        return C_SOURCE.read_text()

    def c_headers(self, **kwargs):
        return ["<string.h>", "omp.h"]

    def c_compile_args(self, **kwargs):
        return ["-fopenmp"]

    def c_code_cache_version(self):
        return (VERSION, threads)

    def c_code(self, node, name, inputs, outputs, sub):
        dtype = node.inputs[0].dtype
        T, typenum = f"npy_{dtype}", f"NPY_{dtype.upper()}"
        fail = sub["fail"]
        W = inputs[0]
        n_terms, rest = self.n_terms, inputs[1:]
        terms = [rest[3 * k:3 * k + 3] for k in range(n_terms)]
        terms += [("NULL", "NULL", "NULL")] * (2 - n_terms)
        if self.product:
            alpha, x, beta, z = rest[3 * n_terms:]
        else:
            alpha, x, beta, z = "NULL", "NULL", "NULL", "NULL"
        out_W = outputs[0] if n_terms else None
        out_g = outputs[-1] if self.product else None
        product = {None: 0, "rows": 1, "cols": 2}[self.product]
        # x's length and g's: n and m for W x, m and n for x W
        x_len, g_len = ("n", "m") if self.product == "rows" else ("m", "n")

        def scalar(var):
            return "0" if var == "NULL" else f"(({T}*)PyArray_DATA({var}))[0]"

        lines = [f"""
        {{
        npy_intp m = PyArray_DIM({W}, 0), n = PyArray_DIM({W}, 1);
        npy_intp s0 = PyArray_STRIDE({W}, 0), s1 = PyArray_STRIDE({W}, 1);
        if (s0 % sizeof({T}) || s1 % sizeof({T})) {{
            PyErr_SetString(PyExc_ValueError, "RowPass: W's strides are not whole elements");
            {fail}
        }}
        s0 /= (npy_intp)sizeof({T}); s1 /= (npy_intp)sizeof({T});
        PyArrayObject *vec[6] = {{NULL, NULL, NULL, NULL, NULL, NULL}};
        PyArrayObject *given[6] = {{{terms[0][1]}, {terms[0][2]}, {terms[1][1]}, {terms[1][2]},
                                    {x}, {z}}};
        npy_intp lens[6] = {{m, n, m, n, {x_len if self.product else 0},
                             {g_len if self.product else 0}}};
        int use_z = {1 if self.product else 0} && {scalar(beta)} != 0;
        for (int k = 0; k < 6; ++k) {{
            if (given[k] == NULL || (k == 5 && !use_z))
                continue;
            if (PyArray_DIM(given[k], 0) != lens[k]) {{
                PyErr_Format(PyExc_ValueError, "RowPass: W is %ldx%ld but vector %d has %ld "
                             "entries, not %ld", (long)m, (long)n, k,
                             (long)PyArray_DIM(given[k], 0), (long)lens[k]);
                {fail}
            }}
        }}
        """]
        if out_g:
            lines.append(f"""
        npy_intp g_len = {g_len};
        if (!{out_g} || PyArray_DIM({out_g}, 0) != g_len || !PyArray_IS_C_CONTIGUOUS({out_g})) {{
            Py_XDECREF({out_g});
            {out_g} = (PyArrayObject*)PyArray_EMPTY(1, &g_len, {typenum}, 0);
            if (!{out_g}) {{ {fail} }}
        }}
        """)
        lines.append(f"""
        int ok = 1;
        for (int k = 0; k < 6; ++k) {{
            if (given[k] == NULL || (k == 5 && !use_z))
                continue;
            vec[k] = PyArray_GETCONTIGUOUS(given[k]);
            if (!vec[k]) ok = 0;
        }}
        {T} *scratch = NULL;
        if (ok && {product} == DT_COLS) {{
            scratch = ({T}*)malloc(sizeof({T}) * (size_t){max(threads, 1)} * (size_t)(n + 1));
            if (!scratch) {{ ok = 0; PyErr_NoMemory(); }}
        }}
        if (ok) {{
            #define DT_DATA(k) (vec[k] ? ({T}*)PyArray_DATA(vec[k]) : NULL)
            dt_row_pass_{dtype}(({T}*)PyArray_DATA({W}), m, n, s0, s1, {n_terms},
                {scalar(terms[0][0])}, DT_DATA(0), DT_DATA(1),
                {scalar(terms[1][0])}, DT_DATA(2), DT_DATA(3),
                {product}, {scalar(alpha)}, DT_DATA(4), {scalar(beta)}, DT_DATA(5),
                {f"({T}*)PyArray_DATA({out_g})" if out_g else "NULL"}, scratch, {threads});
            #undef DT_DATA
        }}
        free(scratch);
        for (int k = 0; k < 6; ++k)
            Py_XDECREF(vec[k]);
        if (!ok) {{ {fail} }}
        """)
        if out_W:
            lines.append(f"""
        Py_XDECREF({out_W});
        {out_W} = {W};
        Py_INCREF({out_W});
        """)
        lines.append("}")
        return "\n".join(lines)


# Rewrites ----------------------------------------------------------------------------------

def _transposed_matrix(var):
    """``W`` when ``var`` is ``W.T`` of a matrix ``W``, else None."""
    owner = var.owner
    if owner is not None and isinstance(owner.op, DimShuffle) and \
            tuple(owner.op.new_order) == (1, 0):
        return owner.inputs[0]
    return None


def _is_destructive_ger(node) -> bool:
    return type(node.op) is CGer and node.op.destructive


@node_rewriter([CGer])
def fuse_rank_one_updates(fgraph, node):
    """``ger(ger(W, a, u1, v1), b, u2, v2)`` or a lone ``ger(W, a, u, v)``, both in place,
    -> ``RowPass`` with two or one terms."""
    if not _is_destructive_ger(node) or node.inputs[0].type.ndim != 2:
        return None
    A, a, u, v = node.inputs
    inner = A.owner
    if inner is not None and _is_destructive_ger(inner) and len(fgraph.clients[A]) == 1:
        W, a1, u1, v1 = inner.inputs
        return RowPass(2, None)(W, a1, u1, v1, a, u, v, return_list=True)
    if inner is not None and _is_destructive_ger(inner):
        return None  # the inner ger's result is read elsewhere too
    clients = fgraph.clients[node.outputs[0]]
    if len(clients) == 1 and hasattr(clients[0][0], "op") and _is_destructive_ger(clients[0][0]):
        return None  # the outer ger takes this one in
    return RowPass(1, None)(A, a, u, v, return_list=True)


def _gemv_of(node, W):
    """``("rows", (alpha, x, beta, z))`` for ``gemv(z, alpha, W, x, beta)``, ``("cols", ...)``
    for ``gemv(z, alpha, W.T, x, beta)``, else None."""
    if type(node.op) is not CGemv:
        return None
    z, alpha, A, x, beta = node.inputs
    if A is W:
        return "rows", (alpha, x, beta, z)
    if _transposed_matrix(A) is W:
        return "cols", (alpha, x, beta, z)
    return None


def _readers(fgraph, W):
    """The nodes that read ``W`` directly or through ``W.T``."""
    for client, _ in fgraph.clients.get(W, []):
        if client == "output" or not hasattr(client, "op"):
            continue
        yield client
        if isinstance(client.op, DimShuffle) and tuple(client.op.new_order) == (1, 0):
            for reader, _ in fgraph.clients.get(client.outputs[0], []):
                if reader != "output" and hasattr(reader, "op"):
                    yield reader


@node_rewriter([RowPass])
def fuse_product_into_update(fgraph, node):
    """A ``RowPass`` update of ``W`` and an independent GEMV reading ``W`` -> one pass."""
    op = node.op
    if op.n_terms == 0 or op.product is not None:
        return None
    W = node.inputs[0]
    update_inputs = node.inputs[1:]
    for reader in _readers(fgraph, W):
        found = _gemv_of(reader, W)
        if found is None:
            continue
        product, (alpha, x, beta, z) = found
        # Neither may need the other's result: the fused node takes both nodes' inputs.
        if any(v in ancestors(update_inputs) for v in reader.outputs):
            continue
        if any(v in ancestors([alpha, x, beta, z]) for v in node.outputs):
            continue
        fused = RowPass(op.n_terms, product)(W, *update_inputs, alpha, x, beta, z,
                                              return_list=True)
        return {node.outputs[0]: fused[0], reader.outputs[0]: fused[1]}
    return None


@node_rewriter([CGemv])
def skip_zero_inputs(fgraph, node):
    """``gemv(z, alpha, W.T, x, beta)`` (``x W``) -> a ``RowPass`` product that skips the rows
    of ``W`` whose entry of ``x`` is zero."""
    if type(node.op) is not CGemv:
        return None
    z, alpha, A, x, beta = node.inputs
    W = _transposed_matrix(A)
    if W is None or W.type.ndim != 2:
        return None
    if len({v.dtype for v in (z, alpha, W, x, beta)}) != 1:
        return None
    return RowPass(0, "cols")(W, alpha, x, beta, z, return_list=True)


registered = False


def register(n_threads: int) -> None:
    """Put the three rewrites in PyTensor's fast_run rewrites, with ``n_threads`` threads per
    pass (once per process)."""
    global registered, threads
    threads = max(1, int(n_threads))
    if not registered:
        # after c_blas_destructive (70.0), which makes the in-place GERs, and before
        # use_threaded_blas (70.1), which swaps PyTensor's BLAS ops for its own
        for position, rewrite in zip((70.02, 70.03, 70.04), (
                fuse_rank_one_updates, fuse_product_into_update, skip_zero_inputs)):
            optdb.register(rewrite.__name__, dfs_rewriter(rewrite), "fast_run", "cxx_only",
                           position=position)
        registered = True
