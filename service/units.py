"""Kinds of measurement, their units, conversions and physical bounds.

Every reading is stored in the canonical unit of its kind (degrees Celsius
for temperature). A reading sent without a unit is in its sensor's input
unit: the sensor's declared unit, else its org's, else the kind's default.
A sensor of unknown kind (never registered) stores values as sent, and only
readings that carry a unit are converted and checked; its values are shown
as stored, in no unit.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

ABSOLUTE_ZERO_C = -273.15
# Below this magnitude every conversion (factors of at most 9) stays finite,
# so ``bounds_error`` tries the conversions only above it.
SAFE_MAGNITUDE = 1e300
# Values shown in a unit other than the canonical one are rounded to this
# many decimals: far below any sensor's resolution.
SHOWN_DECIMALS = 6
# Values converted to canonical are stored rounded to one decimal more: the
# stored text (and so Redis memory) stays short, and a value sent in a unit
# with at most SHOWN_DECIMALS decimals is shown back in that unit exactly.
# Rounded to SHOWN_DECIMALS, 20 F was stored as -6.666667 C and shown back
# as 19.999999 F (5e-7 C of rounding is 9e-7 F); one more decimal keeps the
# error below 1e-7 F, which rounding a shown value absorbs.
CANONICAL_DECIMALS = SHOWN_DECIMALS + 1


@dataclass(frozen=True)
class Kind:
    name: str
    canonical: str
    units: tuple[str, ...]
    minimum: float | None
    maximum: float | None
    bounds_message: str


KINDS: dict[str, Kind] = {
    "temperature": Kind(
        "temperature", "C", ("C", "F", "K"), ABSOLUTE_ZERO_C, None,
        "A temperature cannot be below absolute zero (-273.15 C, -459.67 F, 0 K).",
    ),
    "humidity": Kind("humidity", "%", ("%",), 0.0, 100.0, "A relative humidity lies between 0 and 100 %."),
    "co2": Kind("co2", "ppm", ("ppm",), 0.0, 1_000_000.0, "A CO2 concentration lies between 0 and 1,000,000 ppm."),
    "pressure": Kind("pressure", "hPa", ("hPa",), 0.0, None, "A pressure cannot be negative."),
}
KIND_NAMES = tuple(KINDS)
KIND_OF_UNIT: dict[str, str] = {unit: kind.name for kind in KINDS.values() for unit in kind.units}
UNITS = tuple(KIND_OF_UNIT)

MSG_UNIT = f"Not a known unit; one of: {', '.join(UNITS)}."
# Temperature units, for the routes that take temperatures only (orgs, too
# hot or not, rooms).
TEMPERATURE_UNITS = KINDS["temperature"].units
MSG_TEMPERATURE_UNIT = "Must be one of: C, F, K."


def _to_celsius(value: float, unit: str) -> float:
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0
    if unit == "K":
        return value - 273.15
    return value


def _from_celsius(value: float, unit: str) -> float:
    if unit == "F":
        return value * 9.0 / 5.0 + 32.0
    if unit == "K":
        return value + 273.15
    return value


def to_canonical(value: float, unit: str) -> float:
    """``value`` in ``unit`` expressed in its kind's canonical unit."""
    if unit in ("F", "K"):
        return round(_to_celsius(value, unit), CANONICAL_DECIMALS)
    return value


def from_canonical(value: float, unit: str) -> float:
    """A canonical value expressed in ``unit`` (for display), never inf.

    Writes refuse a value that some unit of its kind cannot express
    (``bounds_error``), but a sensor of no kind stores any finite number and
    may be registered later: such a value saturates at the largest finite
    double of its sign instead of becoming inf (null in JSON).
    """
    if unit in ("F", "K"):
        shown = round(_from_celsius(value, unit), SHOWN_DECIMALS)
        return shown if math.isfinite(shown) else math.copysign(sys.float_info.max, shown)
    return value


def shown(value: float | None, unit: str | None) -> float | None:
    """A canonical value as an answer shows it: in ``unit``, or as stored
    when no unit applies (a sensor of no kind); None stays None."""
    return from_canonical(value, unit) if value is not None and unit else value


def convertible(canonical_value: float, kind: Kind) -> bool:
    """Whether a canonical value is a finite number in every unit of ``kind``."""
    if kind.name != "temperature":
        return math.isfinite(canonical_value)
    return all(math.isfinite(_from_celsius(canonical_value, unit)) for unit in kind.units)


def bounds_error(canonical_value: float, kind: str) -> str | None:
    """Why a canonical value is physically impossible for ``kind``, or None.

    A value that is not a finite number in some unit of its kind is refused
    too (1e308 C is inf in F): every stored value must be shown in any unit.
    """
    spec = KINDS.get(kind)
    if spec is None:
        return None
    if spec.minimum is not None and canonical_value < spec.minimum:
        return spec.bounds_message
    if spec.maximum is not None and canonical_value > spec.maximum:
        return spec.bounds_message
    # Written so that NaN fails too; also catches a value sent in F or K
    # whose conversion to C overflowed.
    if not abs(canonical_value) <= SAFE_MAGNITUDE and not convertible(canonical_value, spec):
        return f"Too large: not a finite number once converted between the units of {kind} ({', '.join(spec.units)})."
    return None


def unit_mismatch(unit: str, kind: str | None) -> str | None:
    """Why readings in ``unit`` cannot belong to a sensor of ``kind``, or None."""
    if kind is None or KIND_OF_UNIT.get(unit) == kind:
        return None
    return f"{unit} is not a unit of {kind}; use one of: {', '.join(KINDS[kind].units)}."


def shown_unit_problem(unit: str, kind: str | None) -> str | None:
    """Why an answer about one sensor of ``kind`` cannot be given in
    ``unit``, or None. A sensor of no kind stores its readings sent without
    a unit as they came, in no unit known here: converting them (as if they
    were degrees Celsius) would give wrong numbers, so no unit applies."""
    if kind is None:
        return (f"{unit} does not apply to a sensor of no kind: its values are kept as sent. "
                "Register the sensor's kind to have them converted.")
    return unit_mismatch(unit, kind)


def input_unit(kind: str | None, sensor_unit: str | None, org_unit: str | None) -> str | None:
    """The unit of a sensor's readings sent without one."""
    if sensor_unit:
        return sensor_unit
    if kind is None:
        return None
    if org_unit and KIND_OF_UNIT.get(org_unit) == kind:
        return org_unit
    return KINDS[kind].canonical


def display_unit(kind: str | None, requested: str | None) -> str | None:
    """Unit an answer is given in: the requested one, else the kind's canonical unit."""
    if requested:
        return requested
    return KINDS[kind].canonical if kind in KINDS else None


def own_unit(meta: dict) -> str | None:
    """The unit a sensor's values are shown in (the dashboard, its last
    reading): its declared unit, else the unit its readings arrive in (its
    org's), else its kind's canonical one. ``meta``: the sensor's metadata."""
    return display_unit(meta.get("kind"), meta.get("unit") or meta.get("input_unit"))
