"""Compiler flags for PyTensor's C code: vectorised maths, and ``-march`` found once.

The C code's element-wise loops call ``exp`` and ``log1p`` one number at a time. GCC turns such
loops into calls of glibc's vector maths library (libmvec, several values per call, within 4
ulp) when two things hold: glibc's ``<math.h>`` declares the vector variants, which it does
only when ``__FAST_MATH__`` is defined, and the compiler may evaluate both sides of a ``?:``
(PyTensor's softplus), which ``-fno-trapping-math`` allows. ``VECTOR_MATH_FLAGS`` gives just
those two, not ``-ffast-math`` itself: NaN, infinities and signed zeros keep their IEEE meaning.

In every new process PyTensor's first C compile runs the compiler three times to expand
``-march=native`` into explicit flags. ``reuse_march_flags`` keeps the result in PyTensor's
compile folder, keyed by CPU and compiler, so that later processes skip those runs.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

import pytensor
from pytensor.link.c.cmodule import GCC_compiler

from deeptutorial.fastpath.blas import _cpuinfo_lines

VECTOR_MATH_FLAGS = "-D__FAST_MATH__ -fno-trapping-math"


def vector_math_flags() -> str | None:
    """``gcc__cxxflags`` that let GCC vectorise exp/log1p with libmvec, or None where unmeasured.

    Only glibc on x86-64 is known here to ship libmvec behind ``__FAST_MATH__``.
    """
    if platform.system() == "Linux" and platform.machine() == "x86_64" \
            and platform.libc_ver()[0] == "glibc":
        return VECTOR_MATH_FLAGS
    return None


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

    The flags are kept in ``MARCH_FILE`` in PyTensor's compile folder under ``march_key()``,
    written at exit by a process that had to find them. A missing, unreadable or malformed
    file is ignored (and rewritten): PyTensor then finds the flags itself.
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
