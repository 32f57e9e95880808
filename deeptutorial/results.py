"""The one results writer all scripts share: images and ``results.json`` in an output folder."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def write_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
    from PIL import Image

    if pixels.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels, got {pixels.dtype}")
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return name
