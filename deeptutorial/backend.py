"""The fast path: PyTensor's C backend linked to the OpenBLAS of the ``scipy-openblas32`` wheel.

PyTensor installed by pip finds no BLAS for its C code and falls back to slow loops (it warns
so), and its default backend, Numba, has no in-place ``Gemm``: every weight update costs extra
passes over the weight matrices. The ``scipy-openblas32`` wheel (a dependency of this
package) ships OpenBLAS as a shared library whose routines carry the prefix ``scipy_``
(``scipy_sgemm_``); ``-D`` flags rename the plain Fortran names PyTensor's C code calls, so
the C backend links to it with no system package. Measured on the project's 2-core machine,
the dA tutorial epoch took 2.98 s this way and 4.30 s on Numba, before the vector maths below
and the merged update of ``rewrites.py`` (2.21 s with both, ``docs/performance.md``).

The C code's element-wise loops call ``exp`` and ``log1p`` one number at a time, which made
the dA step's fused cross-entropy node a fifth of its time. GCC turns such loops into calls
of glibc's vector maths library (libmvec: 8 ``expf`` at once with AVX2, within 4 ulp) when
two things hold: glibc's ``<math.h>`` declares the vector variants, which it does only when
``__FAST_MATH__`` is defined, and the compiler may evaluate both sides of a ``?:`` (PyTensor's
softplus), which ``-fno-trapping-math`` allows. ``VECTOR_MATH_FLAGS`` gives just those two,
not ``-ffast-math`` itself: NaN, infinities and signed zeros keep their IEEE meaning.

OpenBLAS keeps a matrix product on one thread when a side of the result is short, as the
batch of 20 is in three of the dA step's four products. With the OpenBLAS linked here,
``configure()`` takes the threads OpenBLAS would use (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` or the core count), sets OpenBLAS itself to one thread, and gives those
threads to ``threaded_blas``: PyTensor's BLAS ops then split every large enough call over
them with OpenMP, one single-threaded BLAS call per block, and a single pool of threads runs.

``configure()`` runs when ``deeptutorial`` is imported. It changes only what the user has not
set in ``PYTENSOR_FLAGS`` or ``~/.pytensorrc``: ``blas__ldflags``, ``gcc__cxxflags`` (on
x86-64 Linux with glibc) and ``linker`` (when neither ``linker`` nor ``mode`` is set).
``PYTENSOR_FLAGS=linker=numba`` keeps PyTensor's default; with ``blas__ldflags`` set by the
user OpenBLAS's threads are left alone.
"""

from __future__ import annotations

import platform

import pytensor

from deeptutorial import threaded_blas

# Every BLAS routine name that PyTensor's C code calls, for the s/d/c/z types.
_ROUTINES = ("gemm", "gemv", "ger", "dot", "axpy", "scal", "copy", "swap", "symm", "symv",
             "syrk", "trmm", "trsm")


def openblas_ldflags() -> str | None:
    """``blas__ldflags`` that link PyTensor's C code to scipy-openblas32, or None without it."""
    try:
        import scipy_openblas32
    except ImportError:
        return None
    libdir = scipy_openblas32.get_lib_dir()
    renames = " ".join(f"-D{t}{name}_=scipy_{t}{name}_" for t in "sdcz" for name in _ROUTINES)
    return f"-L{libdir} -l{scipy_openblas32.get_library()} -Wl,-rpath,{libdir} {renames}"


def take_openblas_threads() -> int | None:
    """Set scipy-openblas32's OpenBLAS to one thread; return how many it had, or None.

    Its count at load time reflects ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or the
    number of cores. Only PyTensor's C code, linked by ``openblas_ldflags``, uses this copy of
    OpenBLAS (NumPy and SciPy ship their own).
    """
    try:
        import scipy_openblas32

        library = scipy_openblas32.dll  # loaded by the import
        threads = int(library.scipy_openblas_get_num_threads())
        library.scipy_openblas_set_num_threads(1)
    except (ImportError, AttributeError, OSError):
        return None
    return threads


VECTOR_MATH_FLAGS = "-D__FAST_MATH__ -fno-trapping-math"


def vector_math_flags() -> str | None:
    """``gcc__cxxflags`` that let GCC vectorise exp/log1p with libmvec, or None where unmeasured.

    Only glibc on x86-64 is known here to ship libmvec behind ``__FAST_MATH__``.
    """
    if platform.system() == "Linux" and platform.machine() == "x86_64" \
            and platform.libc_ver()[0] == "glibc":
        return VECTOR_MATH_FLAGS
    return None


def user_has_set(name: str) -> bool:
    """Whether PYTENSOR_FLAGS or ~/.pytensorrc gave config ``name`` its value.

    PyTensor reads (and forgets) the user's values when it creates its config, marking
    each such parameter as not default; that mark is what tells.
    """
    param = getattr(pytensor.config, "_config_var_dict", {}).get(name)
    return param is None or not param.is_default


def configure() -> dict:
    """Choose the fast path unless the user chose otherwise; return what was changed."""
    changed = {}
    if not user_has_set("blas__ldflags"):
        flags = openblas_ldflags()
        if flags is not None:
            pytensor.config.blas__ldflags = flags
            changed["blas__ldflags"] = flags
            threads = take_openblas_threads()
            if threads is not None and threads > 1 and pytensor.config.cxx:
                threaded_blas.register(threads)
                changed["blas_threads"] = threads
    if not user_has_set("gcc__cxxflags") and pytensor.config.cxx:
        flags = vector_math_flags()
        if flags is not None:
            pytensor.config.gcc__cxxflags = flags
            changed["gcc__cxxflags"] = flags
    if (not user_has_set("linker") and not user_has_set("mode") and pytensor.config.cxx
            and "blas__ldflags" in changed):
        pytensor.config.linker = "cvm"
        changed["linker"] = "cvm"
    return changed
