"""The contract of the org routes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow.validate import OneOf, Range

from ..fields import FiniteNumber, ReplaceSchema, TimeZoneName, shown_in_every_unit
from ..units import ABSOLUTE_ZERO_C, MSG_TEMPERATURE_UNIT, TEMPERATURE_UNITS
from .store import DEFAULT_THRESHOLD, DEFAULT_TIMEZONE, DEFAULT_UNIT


class OrgPutSchema(ReplaceSchema):
    """An org's settings; a field left out or null takes its default, and
    an empty object is refused (it would reset them all)."""

    unit = ma.fields.String(
        validate=OneOf(TEMPERATURE_UNITS, error=MSG_TEMPERATURE_UNIT),
        allow_none=True,
        metadata={"description": f"Unit of readings its sites send without one (default {DEFAULT_UNIT})",
                  "enum": list(TEMPERATURE_UNITS)},
    )
    timezone = TimeZoneName(
        allow_none=True,
        metadata={"description": f"IANA zone of its sites' days (default {DEFAULT_TIMEZONE})", "example": "America/New_York"},
    )
    threshold = FiniteNumber(
        validate=[Range(min=ABSOLUTE_ZERO_C), shown_in_every_unit],
        allow_none=True,
        metadata={"description": f"Too-hot threshold, degrees Celsius (default {DEFAULT_THRESHOLD:g})", "example": 25},
    )


class OrgSchema(ma.Schema):
    id = ma.fields.String()
    unit = ma.fields.String(metadata={"enum": list(TEMPERATURE_UNITS)})
    timezone = ma.fields.String()
    threshold = ma.fields.Float(metadata={"description": "Degrees Celsius"})
    updated_at = ma.fields.String(allow_none=True, metadata={"format": "date-time",
                                                             "description": "null: never configured (defaults)"})
