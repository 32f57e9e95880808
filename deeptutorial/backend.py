"""The fast path: PyTensor's C backend linked to OpenBLAS (the ``scipy-openblas32`` wheel) or MKL.

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

On an Intel CPU with Intel's MKL installed (the ``mkl`` extra, x86-64 Linux: ``pip install
-e ".[mkl]"``, which the README's install command includes), the C code is linked to MKL's
sequential library instead, and ``threaded_blas`` gets the cores. On the project's Intel Xeon
(Cascade Lake) machine MKL computed the dA step's products with 20 rows 1.5-2x faster than
OpenBLAS (whose time there goes largely to repacking the weights at every call): the dA step
took 0.8x OpenBLAS's time, the SdA's batch-size-1 steps 0.8-0.85x
(``docs/results/choices_mkl``). It was not measured on AMD, which keeps OpenBLAS.
``DEEPTUTORIAL_BLAS=openblas`` or ``=mkl`` overrides the choice.

``configure()`` runs when ``deeptutorial`` is imported. It changes only what the user has not
set in ``PYTENSOR_FLAGS`` or ``~/.pytensorrc``: ``blas__ldflags``, ``gcc__cxxflags`` (on
x86-64 Linux with glibc) and ``linker`` (when neither ``linker`` nor ``mode`` is set).
``PYTENSOR_FLAGS=linker=numba`` keeps PyTensor's default; with ``blas__ldflags`` set by the
user OpenBLAS's threads are left alone.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
from pathlib import Path

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


def mkl_libdir() -> Path | None:
    """The folder of the ``mkl`` wheel's shared libraries, or None without it."""
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.startswith("libmkl_core.so"):
            return Path(file.locate()).resolve().parent
    return None


def mkl_ldflags() -> str | None:
    """``blas__ldflags`` that link PyTensor's C code to MKL's sequential (one-thread) library,
    or None without the ``mkl`` wheel. Its libraries carry a version suffix (``.so.3``)."""
    libdir = mkl_libdir()
    if libdir is None:
        return None
    libs = []
    for name in ("mkl_intel_lp64", "mkl_sequential", "mkl_core"):
        found = sorted(libdir.glob(f"lib{name}.so*"))
        if not found:
            return None
        libs.append(f"-l:{found[0].name}")
    return f"-L{libdir} {' '.join(libs)} -Wl,-rpath,{libdir}"


def cpu_vendor() -> str:
    """``vendor_id`` of /proc/cpuinfo (``GenuineIntel``, ``AuthenticAMD``), or ''."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def blas_choice() -> str | None:
    """``"mkl"``, ``"openblas"`` or None (neither installed): ``DEEPTUTORIAL_BLAS`` when it names
    an installed one, else MKL on Intel CPUs when installed, else OpenBLAS."""
    available = {"mkl": mkl_ldflags() is not None, "openblas": openblas_ldflags() is not None}
    wanted = os.environ.get("DEEPTUTORIAL_BLAS", "").lower()
    if available.get(wanted):
        return wanted
    if available["mkl"] and cpu_vendor() == "GenuineIntel":
        return "mkl"
    return "openblas" if available["openblas"] else None


def cores() -> int:
    """Threads for ``threaded_blas`` with MKL: ``MKL_NUM_THREADS``, ``OMP_NUM_THREADS`` or the
    cores this process may run on."""
    for name in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0]
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class _NoVersionedLibraryWarning(logging.Filter):
    """PyTensor looks for ``lib*.so`` files in ``-L`` folders and warns when it finds none;
    MKL's are ``lib*.so.3``, which the linker finds through ``-l:``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "did not find a dynamic library" not in record.getMessage()


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
    choice = None if user_has_set("blas__ldflags") else blas_choice()
    if choice is not None:
        if choice == "mkl":
            flags, threads = mkl_ldflags(), cores()
            logging.getLogger("pytensor.tensor.blas").addFilter(_NoVersionedLibraryWarning())
        else:
            flags, threads = openblas_ldflags(), take_openblas_threads()
        pytensor.config.blas__ldflags = flags
        changed["blas__ldflags"] = flags
        changed["blas"] = choice
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
