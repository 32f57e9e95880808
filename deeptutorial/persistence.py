"""Saving and loading model state as ``.npz`` files: no pickle, written atomically.

A file holds named arrays and, optionally, a JSON document (``meta``) for everything
that is not an array: epoch counters, cost histories, random generator states.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from deeptutorial.data import DataError, describe_kind
from deeptutorial.results import write_atomically

META_KEY = "__meta__"


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray],
                meta: dict | None = None) -> Path:
    """Write ``arrays`` (and ``meta`` as JSON) to ``path`` atomically."""
    if META_KEY in arrays:
        raise ValueError(f"{META_KEY!r} is reserved")
    payload = dict(arrays)
    if meta is not None:
        payload[META_KEY] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    return write_atomically(path, buffer.getvalue())


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by ``save_arrays``; object arrays (pickles) are refused.

    Any problem (missing, empty, truncated, another kind of file, a damaged array or
    document) is a ``DataError`` naming the file, what was expected and what was found.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a .npz file of saved arrays)")
    head = path.read_bytes()[:8]
    if not head.startswith(b"PK"):
        raise DataError(f"{path}: not a .npz file of saved arrays; found {describe_kind(head)}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays.pop(META_KEY))) if META_KEY in arrays else {}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
            struct.error, UnicodeDecodeError) as exc:
        if "Object arrays cannot be loaded" in str(exc):
            raise DataError(f"{path}: cannot read: it holds pickled objects, which are refused "
                            f"(loading them could run code)") from None
        raise DataError(f"{path}: a damaged or truncated .npz file of saved arrays "
                        f"({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: its document is not a JSON object")
    return arrays, meta


def shared_values(variables: dict) -> dict[str, np.ndarray]:
    """The current values of named shared variables."""
    return {name: np.asarray(v.get_value(borrow=True)) for name, v in variables.items()}


def assign_values(variables: dict, arrays: dict[str, np.ndarray], source: str = "file") -> None:
    """Set named shared variables from ``arrays``, after checking that names, shapes and
    dtypes all match; on any mismatch nothing is changed and every mismatch is named."""
    problems = []
    missing = sorted(set(variables) - set(arrays))
    extra = sorted(set(arrays) - set(variables))
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected {', '.join(extra)}")
    for name in sorted(set(variables) & set(arrays)):
        current = variables[name].get_value(borrow=True)
        if arrays[name].shape != current.shape:
            problems.append(f"{name} has shape {arrays[name].shape}, the model needs {current.shape}")
        elif arrays[name].dtype != current.dtype:
            problems.append(f"{name} has dtype {arrays[name].dtype}, the model needs {current.dtype}")
        elif arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all():
            problems.append(f"{name} holds NaN or infinite values (saved from a run that "
                            f"diverged?)")
    if problems:
        raise DataError(f"{source} does not fit this model: " + "; ".join(problems))
    for name, variable in variables.items():
        variable.set_value(np.array(arrays[name]), borrow=True)


def save_params(path: str | os.PathLike, variables: dict) -> Path:
    """Save named shared variables (a model's ``named_params()``) to ``path``."""
    return save_arrays(path, shared_values(variables))


def load_params(path: str | os.PathLike, variables: dict) -> None:
    """Load ``path`` into named shared variables, checking names, shapes and dtypes."""
    arrays, _ = load_arrays(path)
    assign_values(variables, arrays, source=str(path))


def rng_state(generator_variable) -> dict:
    """The JSON-able state of a PyTensor shared random generator, or of a compiled JAX
    function's copy of one (``backends.GeneratorCopy``: its JAX key)."""
    value = generator_variable.get_value(borrow=True)
    if isinstance(value, dict):
        return {"jax_state": [int(k) for k in np.asarray(value["jax_state"])]}
    return value.bit_generator.state


def set_rng_state(generator_variable, state: dict) -> None:
    value = generator_variable.get_value(borrow=True)
    if isinstance(value, dict) != ("jax_state" in state):
        raise ValueError("it was saved by another backend's random generator: resume with "
                         "the same --backend")
    if isinstance(value, dict):
        key = np.asarray(state["jax_state"], dtype=np.uint32)
        if key.shape != (2,):
            raise ValueError(f"a JAX key has 2 numbers, not {key.size}")
        generator_variable.set_value({**value, "jax_state": key})
        return
    generator = generator_variable.get_value()
    generator.bit_generator.state = state
    generator_variable.set_value(generator, borrow=True)


def save_checkpoint(path: str | os.PathLike, variables: dict, rngs: list, state: dict) -> Path:
    """Save shared variables, random generator states and a JSON ``state`` atomically."""
    meta = {"state": state, "rng_states": [rng_state(g) for g in rngs]}
    return save_arrays(path, shared_values(variables), meta)


def load_checkpoint(path: str | os.PathLike, variables: dict, rngs: list,
                    fields: dict[str, type] | None = None) -> dict:
    """Restore what ``save_checkpoint`` saved into the same variables; return ``state``,
    after checking that it is a JSON object holding each of ``fields`` with its type
    (e.g. ``{"settings": dict, "history": dict}``): a damaged or crafted document is a
    ``DataError`` naming the file, not a ``KeyError`` later."""
    arrays, meta = load_arrays(path)
    if "state" not in meta or len(meta.get("rng_states", ())) != len(rngs):
        raise DataError(f"{path}: not a checkpoint of this model "
                        f"(expected {len(rngs)} random generator states)")
    state = meta["state"]
    if not isinstance(state, dict):
        raise DataError(f"{path}: its state is {type(state).__name__}, expected a JSON object")
    for key, kind in (fields or {}).items():
        if not isinstance(state.get(key), kind):
            found = "missing" if key not in state else type(state[key]).__name__
            raise DataError(f"{path}: not a checkpoint of this script: its state's {key!r} is "
                            f"{found}, expected {_JSON_NAMES.get(kind, kind.__name__)}")
    assign_values(variables, arrays, source=str(path))
    try:
        for generator, state in zip(rngs, meta["rng_states"]):
            set_rng_state(generator, state)
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: a random generator state is damaged ({exc})") from None
    return meta["state"]


_JSON_NAMES = {dict: "an object", list: "a list"}


def restore_log(cls, value, source: str, what: str):
    """``cls(**value)`` for a dataclass log (``TrainingLog``, ``FinetuneLog``) read from a
    checkpoint, after checking each field against the type of its default: a missing,
    extra or mistyped field is a ``DataError`` naming ``source`` and ``what``."""
    if not isinstance(value, dict):
        raise DataError(f"{source}: its {what} is {type(value).__name__}, expected an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(value) - set(fields))
    if extra:
        raise DataError(f"{source}: its {what} has fields this script does not know: "
                        f"{', '.join(extra)}")
    for name, given in value.items():
        f = fields[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        if isinstance(default, bool):
            ok = isinstance(given, bool)
        elif isinstance(default, int):
            ok = isinstance(given, int) and not isinstance(given, bool)
        elif isinstance(default, float) or default is None:
            ok = (isinstance(given, (int, float)) and not isinstance(given, bool)) or \
                (default is None and given is None)
        else:
            ok = isinstance(given, type(default))
        if not ok:
            raise DataError(f"{source}: its {what}'s {name} is {given!r:.40}, not of the "
                            f"type this script saves")
    return cls(**value)


class SavesParams:
    """``save_params``/``load_params`` for any model that lists ``named_params()``."""

    def named_params(self) -> dict:
        raise NotImplementedError

    def save_params(self, path: str | os.PathLike) -> Path:
        """Write the parameters to ``path`` (``.npz``, atomically)."""
        return save_params(path, self.named_params())

    def load_params(self, path: str | os.PathLike) -> None:
        """Read parameters saved by ``save_params``; names, shapes and dtypes must match."""
        load_params(path, self.named_params())
