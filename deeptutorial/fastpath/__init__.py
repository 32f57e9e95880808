"""The fast path: everything ``import deeptutorial`` changes in PyTensor, and why.

The tutorials' training steps are a few matrix products and element-wise loops over weights
of a few megabytes, run tens of thousands of times. Theano compiled them to C code that calls
BLAS and updates the weights in place. A pip-installed PyTensor 3 does neither by default: its
Numba backend has no in-place ``Gemm`` (every update costs extra passes over the weights), and
its C backend finds no BLAS to link and falls back to slow loops. ``enable()`` puts back what
Theano did, and goes further at batch size 1 and for convolutions, in six parts, each in its
own module:

``blas``
    PyTensor's C backend (``linker=cvm``) linked to the OpenBLAS of the ``scipy-openblas32``
    wheel, or to Intel's MKL on Intel CPUs when the optional ``mkl`` extra is installed.
``compiler``
    ``gcc__cxxflags`` that let GCC vectorise ``exp``/``log1p`` with glibc's vector maths
    library, and the ``-march`` flags PyTensor works out once per process kept across
    processes.
``rewrites``
    Two graph rewrites: a tied weight's two gradient updates as one matrix product, and the
    corruption noise drawn through NumPy's fast scalar path (the same numbers).
``threaded_blas``
    PyTensor's BLAS ops with each call split over the cores by OpenMP: BLAS libraries keep a
    product on one core when one side of it is short, as a minibatch of 20 rows is.
``row_pass``
    At batch size 1 (the SdA tutorial's steps), a weight matrix's rank-1 updates and the
    matrix-vector product that can share their pass over it done in one pass, skipping the rows
    that a zero input (a blank pixel, a corrupted unit) leaves alone; each core keeps its own
    block of rows.
``conv_ops``
    The convolutions that ``deeptutorial.conv`` builds from ordinary ops (and marks as such)
    computed by three C ops instead, the forward map and its two adjoints, each gathering
    patches into small cached blocks for single-threaded BLAS products, its blocks split over
    the cores by OpenMP.

None of them changes a result beyond float32 rounding. The measurements behind each choice
are in the documentation's Performance page.

Switches
    ``DEEPTUTORIAL_FASTPATH=0`` turns all of it off: ``pytensor.config`` is left untouched and
    no rewrite is registered. Each part also has its own: what the user sets in
    ``PYTENSOR_FLAGS`` or ``~/.pytensorrc`` always wins (``linker=numba`` keeps PyTensor's
    default backend, ``blas__ldflags`` its own BLAS); ``optimizer_excluding=NAME`` drops a
    rewrite (``merge_rank_k_updates``, ``scalar_uniform_bounds``, ``use_threaded_blas``,
    ``fuse_rank_one_updates``, ``fuse_product_into_update``, ``skip_zero_inputs``,
    ``use_conv_ops``);
    ``OMP_NUM_THREADS=1`` keeps BLAS on one core; ``DEEPTUTORIAL_BLAS=openblas|mkl`` picks
    the library.

PyTensor internals
    The parts subclass or look up PyTensor's BLAS ops, its rewrite databases, its random
    variable ops and its compiler object, which are not a public API. ``setup.cfg`` names the
    PyTensor versions the tests cover. With a PyTensor that lacks one of these internals,
    ``enable()`` prints one warning line and leaves PyTensor as it was: the tutorials still
    run, only slower.
"""

from __future__ import annotations

import os
import sys

SWITCH = "DEEPTUTORIAL_FASTPATH"
OFF_VALUES = ("0", "off", "false", "no")

enabled = False  # whether enable() changed PyTensor in this process
changes: dict = {}  # what enable() changed, for ``python -m deeptutorial.info``


def switched_off() -> bool:
    """Whether ``DEEPTUTORIAL_FASTPATH`` asks for PyTensor as it comes."""
    return os.environ.get(SWITCH, "").strip().lower() in OFF_VALUES


def user_has_set(name: str) -> bool:
    """Whether PYTENSOR_FLAGS or ~/.pytensorrc gave config ``name`` its value.

    PyTensor reads (and forgets) the user's values when it creates its config, marking
    each such parameter as not default; that mark is what tells.
    """
    import pytensor

    param = getattr(pytensor.config, "_config_var_dict", {}).get(name)
    return param is None or not param.is_default


def enable() -> dict:
    """Switch the fast path on unless ``DEEPTUTORIAL_FASTPATH=0``; return what was changed.

    Changes only what the user has not set: ``blas__ldflags``, ``gcc__cxxflags`` (x86-64
    Linux with glibc) and ``linker`` (when neither ``linker`` nor ``mode`` is set). Runs once
    per process.
    """
    global enabled
    if enabled or switched_off():
        return changes
    import pytensor

    try:
        import_parts()
    except (ImportError, AttributeError) as exc:
        print(f"deeptutorial: warning: fast path off: PyTensor {pytensor.__version__} lacks an "
              f"internal it needs ({type(exc).__name__}: {exc}); setup.cfg names the versions "
              f"tested", file=sys.stderr)
        return changes
    changes.update(_configure())
    enabled = True
    return changes


def import_parts() -> tuple:
    """The six parts' modules (importing them finds out whether this PyTensor has the
    internals they need)."""
    from deeptutorial.fastpath import (
        blas,
        compiler,
        conv_ops,
        rewrites,
        row_pass,
        threaded_blas,
    )

    return blas, compiler, conv_ops, rewrites, row_pass, threaded_blas


def _configure() -> dict:
    import pytensor

    blas, compiler, conv_ops, rewrites, row_pass, threaded_blas = import_parts()

    changed = {}
    threads = None
    has_compiler = bool(pytensor.config.cxx)
    choice = None if user_has_set("blas__ldflags") else blas.blas_choice()
    if choice is not None:
        if choice == "mkl":
            flags, threads = blas.mkl_ldflags(), blas.cores()
            blas.hide_versioned_library_warning()
        else:
            flags, threads = blas.openblas_ldflags(), blas.take_openblas_threads()
        pytensor.config.blas__ldflags = flags
        changed.update(blas__ldflags=flags, blas=choice)
        if threads is not None and threads > 1 and has_compiler:
            threaded_blas.register(threads)
            changed["blas_threads"] = threads
    if not user_has_set("gcc__cxxflags") and has_compiler:
        flags = compiler.vector_math_flags()
        if flags is not None:
            pytensor.config.gcc__cxxflags = flags
            changed["gcc__cxxflags"] = flags
    if (not user_has_set("linker") and not user_has_set("mode") and has_compiler
            and "blas__ldflags" in changed):
        pytensor.config.linker = "cvm"
        changed["linker"] = "cvm"
    if has_compiler and compiler.reuse_march_flags():
        changed["march_flags"] = "reused"
    if has_compiler and pytensor.config.linker.startswith("c"):
        row_pass.register(threads or 1)
        changed["row_pass_threads"] = threads or 1
        conv_ops.register(threads or 1)
        changed["conv_ops_threads"] = threads or 1
    rewrites.register()
    return changed
