"""Argument checks shared by the models and scripts: each names the bad value."""

from __future__ import annotations

import math
import numbers

import numpy as np

SEED_LIMIT = 2 ** 32  # numpy.random.RandomState takes seeds 0 .. 2**32 - 1


def check_positive(name: str, value, integer: bool = False) -> None:
    """``value`` must be a finite number > 0 (and a whole number when ``integer``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
        and value > 0
    if ok and integer:
        ok = isinstance(value, numbers.Integral)
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


def random_state(numpy_rng, name: str = "numpy_rng") -> np.random.RandomState:
    """The generator a model draws its starting weights from, as the tutorials' type.

    A ``RandomState`` is used as it is; a ``Generator`` (``np.random.default_rng(0)``) through
    its own bit generator, so that drawing advances it; an integer is a seed; ``None`` asks
    the operating system for a fresh seed, as NumPy does. Anything else is a ``TypeError``
    naming the argument.
    """
    if isinstance(numpy_rng, np.random.RandomState):
        return numpy_rng
    if isinstance(numpy_rng, np.random.Generator):
        return np.random.RandomState(numpy_rng.bit_generator)
    if numpy_rng is None:
        return np.random.RandomState()
    if isinstance(numpy_rng, numbers.Integral) and not isinstance(numpy_rng, (bool, np.bool_)):
        if not 0 <= numpy_rng < SEED_LIMIT:
            raise ValueError(f"{name} as a seed must be in [0, 2**32), got {numpy_rng!r}")
        return np.random.RandomState(int(numpy_rng))
    raise TypeError(f"{name} must be a numpy.random.RandomState, a numpy.random.Generator, an "
                    f"integer seed or None, got {type(numpy_rng).__name__} {numpy_rng!r}")


def check_symbolic_matrix(name: str, value) -> None:
    """``value`` must be None or a symbolic matrix, one example per row (``pt.matrix("x")``)."""
    if value is None:
        return
    ndim = getattr(getattr(value, "type", None), "ndim", None)
    if ndim == 2:
        return
    if isinstance(value, np.ndarray):
        found = (f"a NumPy array of shape {value.shape}: pass a symbolic pt.matrix, and the "
                 f"data to the compiled function")
    elif ndim is not None:
        found = f"a {ndim}-d {type(value).__name__} {value}"
    else:
        found = f"{type(value).__name__} {value!r}"
    raise TypeError(f"{name} must be a symbolic matrix, one example per row (pt.matrix('x')), "
                    f"got {found}")


def check_param_shape(name: str, value, shape: tuple[int, ...], sizes: str) -> None:
    """A given parameter (a shared variable, or a symbolic one) must have ``shape``, the
    shape that the model's ``sizes`` (e.g. "n_visible=784, n_hidden=500") call for."""
    if value is None:
        return
    if hasattr(value, "get_value"):
        actual = tuple(value.get_value(borrow=True).shape)
    elif hasattr(getattr(value, "type", None), "ndim"):
        actual = tuple(value.type.shape)
    else:
        raise TypeError(f"{name} must be a shared variable (pytensor.shared), got "
                        f"{type(value).__name__} {value!r}")
    if len(actual) != len(shape) or any(a is not None and a != n for a, n in zip(actual, shape)):
        raise ValueError(f"{name} has shape {actual}, but {sizes} call for {tuple(shape)}")


def is_number(value) -> bool:
    """A real number of Python's or NumPy's types (not a bool, not a symbolic variable)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_float_type(name: str, value, dtype: str) -> None:
    """A non-zero finite number must stay non-zero and finite in ``dtype``, the type the graph
    computes in: 1e-50 is 0 in float32, and a step of 0 trains nothing."""
    with np.errstate(over="ignore", under="ignore"):
        cast = np.asarray(value, dtype=np.float64).astype(dtype)
    if value != 0 and cast == 0:
        raise ValueError(f"{name} {value!r} is 0 in {dtype}, the type the graph computes in")
    if not np.isfinite(cast):
        raise ValueError(f"{name} {value!r} is infinite in {dtype}, the type the graph "
                         f"computes in")


def check_fraction(name: str, value) -> None:
    """``value`` must lie in [0, 1]."""
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value <= 1):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def check_non_negative(name: str, value) -> None:
    """``value`` must be a finite number >= 0 (a weight of a penalty, a noise level)."""
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def check_open_fraction(name: str, value) -> None:
    """``value`` must lie strictly between 0 and 1 (a probability that a log must take)."""
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value < 1):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


def check_layer_sizes(sizes) -> tuple[int, ...]:
    """``(n_inputs, n_hidden_1, ...)``: at least two positive integers."""
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs the input size and at least one hidden layer, "
                         f"got {sizes!r}")
    for n in sizes:
        check_positive("layer size", n, integer=True)
    return sizes


def check_choice(name: str, value, choices) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


class TooLargeError(ValueError):
    """A model or an array would not fit in the machine's memory; refused before allocation."""


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` of /proc/meminfo, else
    the free physical pages), or None where neither can be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(name: str, shape: tuple, bytes_per_value: int = 8,
                         advice: str = "choose fewer units") -> None:
    """Refuse, before allocating it, an array of ``shape`` that would not fit in memory
    (``bytes_per_value``: 8 for the float64 draws the initialisers make); the message ends
    with ``advice``."""
    n_values = 1
    for n in shape:
        n_values *= int(n)
    needed = n_values * bytes_per_value
    available = available_memory()
    if available is not None and needed > available:
        dims = " x ".join(str(int(n)) for n in shape)
        raise TooLargeError(f"{name} of {dims} = {n_values:,} values needs "
                            f"{needed / 1e9:.1f} GB, but {available / 1e9:.1f} GB of memory is "
                            f"available: {advice}")
