"""Which BLAS PyTensor's C code links, and how many threads run it.

A pip-installed PyTensor finds no BLAS for its C backend and falls back to slow loops. The
``scipy-openblas32`` wheel (a dependency) ships OpenBLAS as a shared library whose routines
carry the prefix ``scipy_`` (``scipy_sgemm_``); ``-D`` flags rename the plain Fortran names
that PyTensor's C code calls, so the C backend links to it with no system package. On an
Intel CPU with Intel's MKL installed (the optional ``mkl`` extra) the C code links MKL's
sequential library instead, which ran the tutorials' steps faster on Intel machines;
``DEEPTUTORIAL_BLAS=openblas`` or ``=mkl`` overrides the choice.

Either library is run on one thread and the cores are given to ``threaded_blas``: two thread
pools on the same cores would wait for each other.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
from pathlib import Path

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
    for line in _cpuinfo_lines():
        if line.startswith("vendor_id"):
            return line.split(":", 1)[1].strip()
    return ""


def cpu_model() -> str:
    """``model name`` of /proc/cpuinfo, else what ``platform`` knows."""
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


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


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cores() -> int:
    """Threads for ``threaded_blas`` with MKL: ``MKL_NUM_THREADS``, ``OMP_NUM_THREADS`` or
    ``usable_cores()``."""
    for name in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0]
        if value.isdigit() and int(value) > 0:
            return int(value)
    return usable_cores()


class _NoVersionedLibraryWarning(logging.Filter):
    """PyTensor looks for ``lib*.so`` files in ``-L`` folders and warns when it finds none;
    MKL's are ``lib*.so.3``, which the linker finds through ``-l:``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "did not find a dynamic library" not in record.getMessage()


def hide_versioned_library_warning() -> None:
    """Silence PyTensor's false warning about MKL's versioned library names."""
    logging.getLogger("pytensor.tensor.blas").addFilter(_NoVersionedLibraryWarning())


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []
