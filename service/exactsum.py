"""Exact sums and correctly rounded averages of readings.

The Lua scripts that sum readings (``exactsum.lua``, which they include)
keep a sum as non-overlapping partials, packed: two bytes, the
numbers of ``low`` and ``high`` partials, then the partials as
little-endian doubles; ``low`` sums the values below 2**900 in magnitude,
``high`` the others scaled by 2**-128. This module turns them back into the
exact sum and rounds an average once: the average of any readings, in any
order of arrival, is the double nearest to their true mean.
(``math.fsum(values) / count`` rounds twice: for ``[0.1, 1.0, 0.1]`` it
gives 0.39999999999999997, the true mean rounds to 0.4.)
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

HIGH_SCALE = 2**128


def total(packed: bytes | None, legacy: bytes | None = None) -> float | Fraction | None:
    """The exact value of a stored sum: a float when one double holds it
    exactly, else a Fraction; None if it is not finite.

    ``legacy``: the one-double text ``sum`` of a sensor hash written before
    exact sums, used while ``packed`` is missing (it overflowed if None).
    """
    if packed:
        n_low, n_high = packed[0], packed[1]
        partials = struct.unpack_from(f"<{n_low + n_high}d", packed, 2)
        lows, highs = partials[:n_low], partials[n_low:]
    else:
        lows, highs = ((float(legacy),) if legacy else ()), ()
    return of_partials(lows, highs)


def of_partials(lows, highs=()) -> float | Fraction | None:
    """The exact value of a sum's partials (``low`` and ``high``, as
    exactsum.lua keeps them); None if one is not finite."""
    if not highs and len(lows) == 2 and math.isfinite(lows[0]) and math.isfinite(lows[1]):
        # The usual sum of many short decimals: two partials, added as
        # integer ratios (powers of two below), a third of Fraction's cost.
        (n1, d1), (n2, d2) = lows[0].as_integer_ratio(), lows[1].as_integer_ratio()
        if d1 < d2:
            n1, d1, n2, d2 = n2, d2, n1, d1
        return Fraction(n1 + n2 * (d1 // d2), d1)
    if not all(map(math.isfinite, lows)):
        return None
    if not highs and len(lows) <= 1:
        return lows[0] if lows else 0.0
    exact = sum(map(Fraction, lows), Fraction(0))
    if highs:
        exact += sum(map(Fraction, highs), Fraction(0)) * HIGH_SCALE
    return exact


def add(a: float | Fraction | None, b: float | Fraction | None) -> float | Fraction | None:
    """Two exact sums added, exactly (None if either is)."""
    if a is None or b is None:
        return None
    exact = Fraction(a) + Fraction(b)
    try:
        rounded = float(exact)
    except OverflowError:
        return exact
    return rounded if Fraction(rounded) == exact else exact


def mean(exact: float | Fraction | None, count: int) -> float | None:
    """``exact / count`` rounded once to the nearest double (None for no sum
    or no readings). Finite: a mean lies within its values' range."""
    if exact is None or not count:
        return None
    if type(exact) is float:
        return exact / count  # one exact double divided: IEEE rounds it correctly
    # int / int true division rounds once, correctly (no Fraction is built).
    return exact.numerator / (exact.denominator * count)
