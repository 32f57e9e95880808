"""What PyTensor will run on here: ``python -m deeptutorial.info``."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from deeptutorial import fastpath
from deeptutorial.fastpath.blas import cpu_model, mkl_ldflags, openblas_ldflags


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def backend_info() -> dict:
    """The backend, BLAS, floatX and compile caches that compiled functions will use."""
    import numpy as np
    import pytensor

    linker = pytensor.config.linker
    info = {
        "pytensor": pytensor.__version__,
        "numpy": np.__version__,
        "numba": _version("numba"),
        "scipy": _version("scipy"),
        "jax": _version("jax"),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "mode": str(pytensor.config.mode),
        "linker": linker,
        # PyTensor 3 resolves linker "auto" to Numba; Numba's matrix products call the
        # BLAS that SciPy ships. deeptutorial.fastpath picks "cvm" (C) with OpenBLAS or MKL.
        "backend": "numba" if linker in ("auto", "numba") else linker,
        "fast_path": ("on" if fastpath.enabled else
                      f"off ({fastpath.SWITCH}=0)" if fastpath.switched_off() else "off"),
        "scipy_openblas32": _version("scipy-openblas32"),
        "mkl": _version("mkl"),
        "floatX": f"{pytensor.config.floatX} (the scripts switch to float32)",
        "compiledir": pytensor.config.compiledir,
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR", "(numba default)"),
    }
    blas = {}
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas["numpy"] = f"{config.get('name')} {config.get('version')}"
    except Exception:  # the layout of show_config is not a stable API
        blas["numpy"] = "unknown"
    try:
        import scipy

        config = scipy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas["scipy (used by numba)"] = f"{config.get('name')} {config.get('version')}"
    except Exception:
        blas["scipy (used by numba)"] = "unknown"
    if info["backend"] not in ("numba", "jax"):
        flags = pytensor.config.blas__ldflags
        if flags == openblas_ldflags():
            flags = f"scipy-openblas32 {_version('scipy-openblas32')} (set by deeptutorial)"
        elif flags == mkl_ldflags():
            flags = f"mkl {_version('mkl')}, sequential (set by deeptutorial)"
        blas["pytensor_c"] = flags or "(none: slow fallback)"
    info["blas"] = blas
    if info["backend"] not in ("numba", "jax"):
        info["blas_threads"] = (
            f"{fastpath.changes['blas_threads']} (OpenMP, deeptutorial.fastpath.threaded_blas; "
            f"the BLAS itself: 1)" if "blas_threads" in fastpath.changes else "the BLAS's own")
    cxxflags = pytensor.config.gcc__cxxflags
    if cxxflags and cxxflags == fastpath.changes.get("gcc__cxxflags"):
        cxxflags += " (set by deeptutorial: vectorised exp/log1p)"
    info["cxxflags"] = cxxflags or "(none)"
    return info


def slow_path_reason() -> str | None:
    """A one-line reason when the configured backend is known to be slow, else None."""
    import pytensor

    linker = pytensor.config.linker
    if linker in ("auto", "numba"):
        return None if _version("numba") else "Numba is not installed"
    if linker in ("py", "vm"):
        return f"PyTensor linker {linker!r} runs every op in Python"
    if linker.startswith("c") and not pytensor.config.blas__ldflags:
        return "PyTensor's C backend found no BLAS to link (blas__ldflags is empty)"
    return None


def main() -> None:
    for key, value in backend_info().items():
        print(f"{key:16} {value}")
    reason = slow_path_reason()
    print(f"{'fast path':16} {'no: ' + reason if reason else 'yes'}")


if __name__ == "__main__":
    main()
