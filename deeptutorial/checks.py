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
