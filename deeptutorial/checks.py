"""Argument checks shared by the models and scripts: each names the bad value."""

from __future__ import annotations

import math
import numbers


def check_positive(name: str, value, integer: bool = False) -> None:
    """``value`` must be a finite number > 0 (and a whole number when ``integer``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
        and value > 0
    if ok and integer:
        ok = isinstance(value, numbers.Integral)
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


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


def check_fits_in_memory(name: str, shape: tuple, bytes_per_value: int = 8) -> None:
    """Refuse, before allocating it, an array of ``shape`` that would not fit in memory
    (``bytes_per_value``: 8 for the float64 draws the initialisers make)."""
    n_values = 1
    for n in shape:
        n_values *= int(n)
    needed = n_values * bytes_per_value
    available = available_memory()
    if available is not None and needed > available:
        dims = " x ".join(str(int(n)) for n in shape)
        raise TooLargeError(f"{name} of {dims} = {n_values:,} values needs "
                            f"{needed / 1e9:.1f} GB, but {available / 1e9:.1f} GB of memory is "
                            f"available: choose fewer units")
