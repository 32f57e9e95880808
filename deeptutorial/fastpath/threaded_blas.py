"""PyTensor's BLAS ops with their calls split over the cores by OpenMP.

BLAS libraries thread a matrix product only when both sides of the result are long enough
(OpenBLAS: ``threads x 32``); the dA tutorial's products ``x W``, ``h W'`` and ``dz W`` have
the minibatch of 20 rows on one side, so on a 2-core machine they ran on one core while the
other waited.

``ThreadedGemm``, ``ThreadedDot22``, ``ThreadedDot22Scalar``, ``ThreadedCGemv`` and
``ThreadedCGer`` are PyTensor's ops with their own C code, except that its calls to
``sgemm_``, ``sgemv_`` and ``sger_`` (and the ``d`` versions) go to ``threaded_blas.c``,
which cuts the output into one block per OpenMP thread and makes one single-threaded BLAS
call per block; a GEMM whose result is too small to cut but whose sum is long (a convolution
kernel's gradient) has its sum cut instead, and the pieces added. Every output element is the
same sum; the BLAS groups its terms by its own blocking, which depends on each call's size, so
the last bits of a result can differ from one whole call's (the tests check that the split
results are as accurate).

``use_threaded_blas`` swaps them in after PyTensor's BLAS and in-place rewrites. It is
registered by ``deeptutorial.fastpath.enable`` only when the BLAS it linked runs on one
thread. The thread count is compiled into the ops (``-DDT_THREADS``), so it is part of
PyTensor's cache key.
"""

from __future__ import annotations

from pathlib import Path

from pytensor.compile import optdb
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.tensor.blas import Dot22, Dot22Scalar, Gemm
from pytensor.tensor.blas_c import CGemv, CGer

NAME = "use_threaded_blas"
C_SOURCE = Path(__file__).with_name("threaded_blas.c")
VERSION = 5  # bump when threaded_blas.c changes
threads = 1  # set by register()


class _Threaded:
    """The OpenMP flags and the split BLAS calls, on top of one of PyTensor's BLAS ops."""

    def c_support_code(self, **kwargs):
        return super().c_support_code(**kwargs) + "\n" + C_SOURCE.read_text()

    def c_headers(self, **kwargs):
        return [*super().c_headers(**kwargs), "omp.h"]

    def c_compile_args(self, **kwargs):
        return [*super().c_compile_args(**kwargs), "-fopenmp", f"-DDT_THREADS={threads}"]

    def c_code_cache_version(self):
        version = super().c_code_cache_version()
        return (VERSION, *version) if version else version


class ThreadedGemm(_Threaded, Gemm):
    """``Gemm`` (``z <- b z + a x y``), split over OpenMP threads."""


class ThreadedDot22(_Threaded, Dot22):
    """``Dot22`` (``x y``), split over OpenMP threads."""


class ThreadedDot22Scalar(_Threaded, Dot22Scalar):
    """``Dot22Scalar`` (``a x y``), split over OpenMP threads."""


class ThreadedCGemv(_Threaded, CGemv):
    """``CGemv`` (``z <- b z + a A x``), split over OpenMP threads."""


class ThreadedCGer(_Threaded, CGer):
    """``CGer`` (``A <- A + a x y'``), split over OpenMP threads."""


THREADED = {Gemm: ThreadedGemm, Dot22: ThreadedDot22, Dot22Scalar: ThreadedDot22Scalar,
            CGemv: ThreadedCGemv, CGer: ThreadedCGer}


@node_rewriter(list(THREADED))
def use_threaded_blas(fgraph, node):
    """A BLAS op -> its threaded version, with the same props and inputs."""
    threaded = THREADED.get(type(node.op))
    if threaded is None:
        return None
    return threaded(**node.op._props_dict()).make_node(*node.inputs).outputs


registered = False  # whether register() ran: the swap is in fast_run


def register(n_threads: int) -> None:
    """Split BLAS calls over ``n_threads`` from now on: add the swap to PyTensor's fast_run
    rewrites (once per process)."""
    global registered, threads
    threads = n_threads
    if not registered:
        # after InplaceBlasOpt (50.2) and c_blas_destructive (70.0), which make the in-place
        # versions and look for PyTensor's own ops by equality
        optdb.register(NAME, dfs_rewriter(use_threaded_blas), "fast_run", "cxx_only",
                       position=70.1)
        registered = True
