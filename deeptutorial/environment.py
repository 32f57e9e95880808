"""The environment a run depends on, checked once when ``deeptutorial`` is imported.

The project's own variables (``DEEPTUTORIAL_FASTPATH``, ``DEEPTUTORIAL_BLAS``) take only the
values they know, the thread counts must be counts, and PyTensor's own settings
(``PYTENSOR_FLAGS``, ``~/.pytensorrc``: a floatX, a linker or mode, a compile directory) must
be ones it accepts. Each problem is a ``SettingError`` naming the variable and its value. A
script run from the command line prints it as one line and exits with status 2, as for a bad
flag; anything else that imports the package (a notebook, a test, another program) gets the
exception.
"""

from __future__ import annotations

import glob
import os
import struct
import sys

FASTPATH_OFF = ("0", "off", "false", "no")
FASTPATH_ON = ("", "1", "on", "true", "yes")
BLAS_CHOICES = ("", "openblas", "mkl")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class SettingError(ValueError):
    """An environment variable or PyTensor setting holds a value that cannot be used."""


def check() -> None:
    """Raise ``SettingError`` for the first setting that cannot be used; import PyTensor."""
    fastpath = os.environ.get("DEEPTUTORIAL_FASTPATH", "")
    if fastpath.strip().lower() not in FASTPATH_OFF + FASTPATH_ON:
        raise SettingError(f"DEEPTUTORIAL_FASTPATH={fastpath!r}: expected 0, off, false or no "
                           f"(PyTensor as it comes), or 1, on, true, yes or nothing (the fast "
                           f"path)")
    blas = os.environ.get("DEEPTUTORIAL_BLAS", "")
    if blas.strip().lower() not in BLAS_CHOICES:
        raise SettingError(f"DEEPTUTORIAL_BLAS={blas!r}: expected openblas or mkl (or nothing: "
                           f"MKL on Intel CPUs where installed, else OpenBLAS)")
    for name in THREAD_VARIABLES:
        value = os.environ.get(name)
        if value is not None and not all(n.strip().isdigit() and int(n) > 0
                                         for n in value.split(",")):
            raise SettingError(f"{name}={value!r}: expected a number of threads (1, 2, ...)")
    try:
        import pytensor  # reads PYTENSOR_FLAGS and ~/.pytensorrc

        compiledir = pytensor.config.compiledir  # made on first reading
    except (ValueError, TypeError, OSError) as exc:
        raise SettingError(f"{pytensor_settings()}: {str(exc).splitlines()[0]}") from None
    if not os.access(compiledir, os.W_OK | os.X_OK):
        raise SettingError(f"PyTensor's compile directory {compiledir} is not writable: make it "
                           f"so, or choose another with PYTENSOR_FLAGS=base_compiledir=FOLDER")
    damaged = damaged_modules(compiledir)
    if damaged:
        shown = " ".join(damaged) if len(damaged) <= 3 else \
            f"them (or the whole cache, {compiledir})"
        raise SettingError(f"PyTensor's compile cache holds {len(damaged)} damaged modules "
                           f"(cut short by a killed compile or a full disk; loading one would "
                           f"crash Python): delete {shown}, and PyTensor compiles them again")


def damaged_modules(compiledir: str) -> list[str]:
    """The folders of compiled modules whose shared library is shorter than its own ELF header
    says. Only finished modules are read (PyTensor writes ``key.pkl`` after the compile), so a
    compile under way in another process is never taken for a damaged one. About 20 ms for
    700 modules."""
    damaged = []
    for key in glob.glob(os.path.join(glob.escape(compiledir), "*", "key.pkl")):
        folder = os.path.dirname(key)
        for library in glob.glob(os.path.join(glob.escape(folder), "*.so")):
            if not _whole_elf(library):
                damaged.append(folder)
                break
    return sorted(damaged)


def _whole_elf(path: str) -> bool:
    """Whether a 64-bit ELF file is as long as its section header table's end (the table
    comes last in what the linker writes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        order = "<" if head[5] == 1 else ">"
        (table,) = struct.unpack_from(order + "Q", head, 0x28)
        entry_size, entries = struct.unpack_from(order + "HH", head, 0x3A)
        return table + entry_size * entries <= os.path.getsize(path)
    except OSError:
        return False


def pytensor_settings() -> str:
    """Where PyTensor's settings come from, for a message."""
    flags = os.environ.get("PYTENSOR_FLAGS")
    rc = os.environ.get("PYTENSORRC", "~/.pytensorrc")
    return f"PYTENSOR_FLAGS={flags!r}" if flags else f"the PyTensor settings in {rc}"


def running_a_script() -> bool:
    """Whether Python runs a program file from the command line (``python scripts/x.py``),
    not the interactive interpreter, a notebook kernel or a test runner."""
    main = sys.modules.get("__main__")
    return (bool(getattr(main, "__file__", None)) and not hasattr(sys, "ps1")
            and not sys.flags.interactive and "ipykernel" not in sys.modules
            and "pytest" not in sys.modules)


def check_or_exit() -> None:
    """``check()``; a script ends with the problem as one line and status 2."""
    try:
        check()
    except SettingError as exc:
        if not running_a_script():
            raise
        prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "deeptutorial"
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
