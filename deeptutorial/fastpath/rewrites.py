"""Two graph rewrites that PyTensor's own rewrites leave undone.

**Tied weights: two rank-k updates of a matrix become one GEMM.** A tied weight matrix gets
its gradient from both of its uses; the dA's ``W - lr * (x' dh + dz' h)`` is compiled by
PyTensor into two in-place GEMMs, each reading and writing all of ``W`` for an inner dimension
of only the batch size::

    W <- W - lr x' dh;   W <- W - lr dz' h

``merge_rank_k_updates`` stacks the factors, ``[x dz]' [dh; h]``, so ``W`` is read and written
once, by one GEMM with twice the inner dimension, which BLAS runs closer to its peak. The sum
is the same (only the order of the additions inside the GEMM changes). Rank-1 updates (batch
size 1) are left to GER. The stacking copies the factors, which pays only when they are thin
next to ``z``: it is not done when the stacked inner dimension is known to reach one of
``z``'s. (A convolution's sum of per-kernel-position products, ``z`` as many rows as pixels
and 32 columns, would copy its long factors to save a pass over a 32-column ``z``.)

**Uniform noise with scalar bounds drawn through NumPy's scalar path.** PyTensor gives a
random variable's parameters the rank of its sample, so the dA's corruption draw
``uniform(0, 1, size=x.shape)`` reaches NumPy as ``Generator.uniform([[0.]], [[1.]], size)``,
and NumPy's array-parameter path is several times slower than ``uniform(0.0, 1.0, size)``.
``scalar_uniform_bounds`` swaps the node's op for ``ScalarBoundsUniformRV``, which passes the
bounds as Python numbers: the very same numbers are drawn (``low + (high - low) *
next_double()`` either way).

Each is registered under its name, so ``optimizer_excluding=NAME`` turns it off (in
``PYTENSOR_FLAGS`` for all functions, or ``mode.excluding(NAME)`` for one).
"""

from __future__ import annotations

import pytensor.tensor as pt
from pytensor.compile import optdb
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.tensor.basic import get_underlying_scalar_constant_value
from pytensor.tensor.blas import gemm_no_inplace
from pytensor.tensor.exceptions import NotScalarConstantError
from pytensor.tensor.random.basic import UniformRV
from pytensor.tensor.rewriting.blas import blas_optdb

NAME = "merge_rank_k_updates"
UNIFORM_NAME = "scalar_uniform_bounds"


def _constant(variable) -> float | None:
    try:
        return float(get_underlying_scalar_constant_value(variable))
    except NotScalarConstantError:
        return None


def _same_scalar(a, b) -> bool:
    if a is b:
        return True
    value = _constant(a)
    return value is not None and value == _constant(b)


@node_rewriter([gemm_no_inplace])
def merge_rank_k_updates(fgraph, node):
    """``gemm(gemm(z, a, x0, y0, b), a, x1, y1, 1)`` -> ``gemm(z, a, [x0 x1], [y0; y1], b)``."""
    z, alpha, x, y, beta = node.inputs
    inner = z.owner
    if inner is None or inner.op != gemm_no_inplace or len(fgraph.clients[z]) != 1:
        return None
    z0, alpha0, x0, y0, beta0 = inner.inputs
    if _constant(beta) != 1.0 or not _same_scalar(alpha, alpha0):
        return None
    if x0.type.broadcastable[1] or x.type.broadcastable[1]:
        return None  # outer products: GER does them without packing
    inner = (x0.type.shape[1], x.type.shape[1])
    if None in inner:
        return None
    if any(dim is not None and sum(inner) >= dim for dim in node.outputs[0].type.shape):
        return None  # factors as wide as z: stacking them copies more than it saves
    # Stacked as rows then transposed, the factor keeps x0's usual layout (x' of a batch).
    left = pt.join(0, x0.T, x.T).T
    return [gemm_no_inplace(z0, alpha0, left, pt.join(0, y0, y), beta0)]


class ScalarBoundsUniformRV(UniformRV):
    """``UniformRV`` whose bounds hold one number each, passed to NumPy as Python floats."""

    def rng_fn(self, rng, low, high, size):
        return rng.uniform(low.item(), high.item(), size)


@node_rewriter([UniformRV])
def scalar_uniform_bounds(fgraph, node):
    """``uniform_rv(rng, size, [[low]], [[high]])`` -> the same with ``ScalarBoundsUniformRV``."""
    if type(node.op) is not UniformRV:
        return None
    if not all(all(dim == 1 for dim in p.type.shape) for p in node.op.dist_params(node)):
        return None
    return ScalarBoundsUniformRV(**node.op._props_dict()).make_node(*node.inputs).outputs


_registered = False


def register() -> None:
    """Add both rewrites to PyTensor's fast_run rewrites (once per process), tagged
    ``cxx_only``: the Numba and JAX backends exclude that tag, so only the C backend runs
    them."""
    global _registered
    if not _registered:
        # position 10 is PyTensor's GemmOptimizer, 11 its GEMM -> GEMV/GER rewrites
        blas_optdb.register(NAME, dfs_rewriter(merge_rank_k_updates), "fast_run", "cxx_only",
                            position=10.5)
        # before random_make_inplace (50.9), which keeps the op's class
        optdb.register(UNIFORM_NAME, dfs_rewriter(scalar_uniform_bounds), "fast_run", "cxx_only",
                       position=50.5)
        _registered = True
