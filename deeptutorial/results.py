"""The one results writer all scripts share: images and ``results.json`` in an output folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


class WriteError(OSError):
    """A file could not be written (disk full, I/O error); the earlier file is intact."""


def write_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed over it, so that a reader
    never sees half a file and a write that fails midway (a full disk) leaves the earlier
    ``path`` as it was; the failure is a ``WriteError`` that says so."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise WriteError(exc.errno, f"could not write {path} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        kept = "the earlier one is intact" if path.exists() else "nothing was written"
        raise WriteError(exc.errno, f"could not write {path} ({exc.strerror or exc}); "
                                    f"{kept}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _plain(value):
    """Make NumPy scalars and arrays JSON-serialisable."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in results.json")


def write_results(folder: str | os.PathLike, results: dict) -> Path:
    """Write ``results`` as ``folder/results.json``."""
    text = json.dumps(results, indent=2, default=_plain) + "\n"
    return write_atomically(Path(folder) / "results.json", text.encode())


def save_image(folder: str | os.PathLike, name: str, pixels: np.ndarray) -> str:
    """Save a uint8 array as ``folder/name`` (PNG) and return ``name`` for results.json."""
    import io

    from PIL import Image

    if pixels.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels, got {pixels.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    write_atomically(Path(folder) / name, buffer.getvalue())
    return name
