"""Exact sums and correctly rounded averages of readings.

The Lua scripts that sum readings keep a sum as two texts of non-overlapping
partials (``exactsum.lua``, prepended to them: ``LUA``): ``low``, the values
below 2**900 in magnitude, and ``high``, the others scaled by 2**-128. This
module turns them back into the exact sum and rounds an average once: the
average of any readings, in any order of arrival, is the double nearest to
their true mean (``math.fsum(values) / count`` rounds twice: for
``[0.1, 1.0, 0.1]`` it gives 0.39999999999999997, the true mean rounds to 0.4).

A ``sum`` text written before exact sums is one double: a valid ``low``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .redis_client import lua_source

LUA = lua_source(__package__, "exactsum.lua")
HIGH_SCALE = 2**128


def _partials(text) -> list[float]:
    if not text:
        return []
    if type(text) is bytes:
        text = text.decode()
    return [float(word) for word in text.split()]


def total(low, high=None) -> float | Fraction | None:
    """The exact value of a stored sum (texts or bytes): a float when one
    double holds it exactly, else a Fraction; None if it is not finite (a
    sum stored as one double before exact sums, that overflowed)."""
    lows, highs = _partials(low), _partials(high)
    if not all(map(math.isfinite, lows)):
        return None
    if not highs and len(lows) <= 1:
        return lows[0] if lows else 0.0
    exact = sum(map(Fraction, lows), Fraction(0))
    if highs:
        exact += sum(map(Fraction, highs), Fraction(0)) * HIGH_SCALE
    return exact


def mean(exact: float | Fraction | None, count: int) -> float | None:
    """``exact / count`` rounded once to the nearest double (None for no sum
    or no readings). Finite: a mean lies within its values' range."""
    if exact is None or not count:
        return None
    if type(exact) is float:
        return exact / count  # one exact double divided: IEEE rounds it correctly
    return float(exact / count)  # Fraction / int is exact; float() rounds once
