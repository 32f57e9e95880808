"""The one results writer all scripts share: images and ``results.json`` in an output folder.

A folder never ends as a mix of two runs. When a run starts (``begin_run``) in a folder that
holds a finished run, every file it writes there goes first to a hidden staging folder beside
it; when the new run finishes, its files replace the earlier run's (the files the earlier
``results.json`` names) all at once. A run that stops early (Ctrl-C, an error) leaves the
finished run as it was, and its own files in ``unfinished-run/``.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import shutil
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
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            part.unlink(missing_ok=True)


def write_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed over it, so that a reader
    never sees half a file and a write that fails midway (a full disk) leaves the earlier
    ``path`` as it was; the failure is a ``WriteError`` that says so. The file gets the
    permissions the umask gives a new file (``mkstemp`` alone would make it private), and
    temporary files that killed writes left beside it are removed."""
    path = _staged(Path(path))
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
UNFINISHED = "unfinished-run"

_stages: dict[Path, Path] = {}  # output folder -> the staging folder of this process's run
_numbers = itertools.count()


def begin_run(folder: str | os.PathLike) -> None:
    """Start a run that writes into ``folder``: if it holds a finished run, this run's files
    are staged until it finishes (see the module's docstring). Staging folders that killed
    runs left behind become ``unfinished-run/``."""
    folder = Path(folder).resolve()
    for stale in folder.glob(".run-*"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            _set_aside(folder, stale)
    if _holds_finished_run(folder / "results.json"):
        _stages[folder] = folder / f".run-{os.getpid()}-{next(_numbers)}"


def abandon_runs() -> None:
    """The runs of this process stopped early: each keeps its files in ``unfinished-run/``,
    and the finished runs beside them are left as they were."""
    for folder, stage in list(_stages.items()):
        _stages.pop(folder)
        if stage.is_dir():
            _set_aside(folder, stage)


def write_results(folder: str | os.PathLike, results: dict) -> Path:
    """Write ``results`` as ``folder/results.json``: the last write of a run. A staged run
    (``begin_run``) then replaces the earlier run if it finished, or is set aside in
    ``unfinished-run/`` if it was interrupted (``results["interrupted"]``). Without staging,
    interrupted results never replace finished ones either: they go beside them, to
    ``results.interrupted.json``."""
    path = Path(folder) / "results.json"
    text = (json.dumps(results, indent=2, default=_plain) + "\n").encode()
    stage = _stages.get(path.parent.resolve())
    if stage is None:
        if results.get("interrupted") and _holds_finished_run(path):
            path = path.with_name(PARTIAL_RESULTS)
        return write_atomically(path, text)
    write_atomically(path, text)  # into the staging folder
    _stages.pop(path.parent.resolve())
    if results.get("interrupted"):
        return _set_aside(path.parent, stage) / "results.json"
    _replace_earlier_run(path.parent, stage)
    return path


def _staged(path: Path) -> Path:
    stage = _stages.get(path.parent.resolve())
    return stage / path.name if stage is not None else path


def _replace_earlier_run(folder: Path, stage: Path) -> None:
    """Move the staged files into ``folder``, then delete the earlier run's files that the
    new run did not write again (those its ``results.json`` named)."""
    earlier = _named_files(folder)
    new = {p.name for p in stage.iterdir()}
    for name in sorted(new):
        os.replace(stage / name, folder / name)
    shutil.rmtree(stage, ignore_errors=True)
    for name in sorted(earlier - new):
        (folder / name).unlink(missing_ok=True)


def _named_files(folder: Path) -> set[str]:
    """The files of ``folder`` that its ``results.json`` names (images, saved models)."""
    try:
        results = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        return set()
    names: set[str] = set()

    def collect(value):
        if isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)
        elif isinstance(value, str) and "/" not in value and (folder / value).is_file():
            names.add(value)

    collect(results)
    return names


def _set_aside(folder: Path, stage: Path) -> Path:
    """Keep a stopped run's staged files as ``folder/unfinished-run`` (replacing an older
    one)."""
    target = folder / UNFINISHED
    if target.exists():
        shutil.rmtree(target)
    os.replace(stage, target)
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


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
