"""The one results writer all scripts share: images and ``results.json`` in an output folder."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path

import numpy as np


class WriteError(OSError):
    """A file could not be written (disk full, I/O error); the earlier file is intact."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_parts(path: Path) -> None:
    """Delete the temporary files that killed writes of ``path`` left behind: each is named
    after the process that wrote it, and one whose process is gone is stale."""
    for part in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        pid = part.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            part.unlink(missing_ok=True)
        except OSError:  # alive, someone else's
            pass


def write_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed over it, so that a reader
    never sees half a file and a write that fails midway (a full disk) leaves the earlier
    ``path`` as it was; the failure is a ``WriteError`` that says so. The file gets the
    permissions the umask gives a new file (``mkstemp`` alone would make it private), and
    temporary files that killed writes left beside it are removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_parts(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                   suffix=".part")
    except OSError as exc:
        raise WriteError(exc.errno, f"could not write {path} ({exc.strerror or exc})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        kept = "the earlier one is intact" if path.is_file() else "nothing was written"
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


PARTIAL_RESULTS = "results.interrupted.json"


def write_results(folder: str | os.PathLike, results: dict) -> Path:
    """Write ``results`` as ``folder/results.json``. The results of an interrupted run
    (``results["interrupted"]``) never replace those of a finished one: when
    ``results.json`` holds a finished run, they go beside it, to ``results.interrupted.json``."""
    path = Path(folder) / "results.json"
    if results.get("interrupted") and _holds_finished_run(path):
        path = path.with_name(PARTIAL_RESULTS)
    text = json.dumps(results, indent=2, default=_plain) + "\n"
    return write_atomically(path, text.encode())


def _holds_finished_run(path: Path) -> bool:
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(earlier, dict) and not earlier.get("interrupted", False)


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
