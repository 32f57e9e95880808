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
(Cascade Lake) machine the dA step took 0.77x OpenBLAS's time with MKL, the batch-size-1
pretraining step 0.89x (alternating blocks, ``docs/results/choices_mkl``; the SdA's
batch-size-1 steps 0.75-0.92x in ``docs/results/bench_goals_mkl``). MKL was not measured on
AMD, which keeps OpenBLAS. ``DEEPTUTORIAL_BLAS=openblas`` or ``=mkl`` overrides the choice.

``configure()`` runs when ``deeptutorial`` is imported. It changes only what the user has not
set in ``PYTENSOR_FLAGS`` or ``~/.pytensorrc``: ``blas__ldflags``, ``gcc__cxxflags`` (on
x86-64 Linux with glibc) and ``linker`` (when neither ``linker`` nor ``mode`` is set).
``PYTENSOR_FLAGS=linker=numba`` keeps PyTensor's default; with ``blas__ldflags`` set by the
user OpenBLAS's threads are left alone.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
from pathlib import Path

import pytensor
from pytensor.link.c.cmodule import GCC_compiler

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


MARCH_FILE = "deeptutorial_march_flags.json"


def march_key() -> str:
    """What PyTensor's ``-march=native`` expansion depends on: the CPU and the compiler."""
    cpu = [line for line in _cpuinfo_lines() if line.startswith(("model name", "flags"))][:2]
    compiler = shutil.which(pytensor.config.cxx) or pytensor.config.cxx
    try:
        stat = os.stat(compiler)
        compiler += f" {stat.st_size} {stat.st_mtime_ns}"
    except OSError:
        pass
    text = "\n".join([compiler, platform.machine(), platform.processor(), *cpu])
    return hashlib.sha256(text.encode()).hexdigest()


def reuse_march_flags() -> bool:
    """Give PyTensor the ``-march`` flags it found in an earlier process; True if there were.

    In every new process PyTensor's first C compile runs the compiler three times to expand
    ``-march=native`` into explicit flags (on the project's Intel machine warm compiles of the
    three training functions took 1.1-2.2 s before this, 0.7-1.9 s after,
    ``docs/performance.md``). The flags are kept in
    ``MARCH_FILE`` in PyTensor's compiledir, under ``march_key()``, and written at exit by a
    process that had to find them.
    """
    if "-march=" in pytensor.config.gcc__cxxflags:
        return False  # PyTensor then adds none of its own
    path = Path(pytensor.config.compiledir) / MARCH_FILE
    key = march_key()
    try:
        flags = json.loads(path.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        flags = None
    if isinstance(flags, list) and all(isinstance(f, str) for f in flags):
        GCC_compiler.march_flags = flags
        return True
    atexit.register(_save_march_flags, path, key)
    return False


def _save_march_flags(path: Path, key: str) -> None:
    if not GCC_compiler.march_flags:
        return  # nothing compiled in this process, or no flags found
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    known[key] = GCC_compiler.march_flags
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only compiledir: the next process finds the flags itself


def _cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


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
    if pytensor.config.cxx and reuse_march_flags():
        changed["march_flags"] = "reused"
    return changed
