"""The contract of the org routes (brief 000)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow.validate import OneOf, Range

from .. import units
from ..sites.schemas import MIN_CELSIUS, FiniteNumber, TimeZoneName, shown_in_every_unit
from .store import DEFAULT_THRESHOLD, DEFAULT_TIMEZONE, DEFAULT_UNIT

TEMPERATURE_UNITS = units.KINDS["temperature"].units
MSG_TEMPERATURE_UNIT = "Must be one of: C, F, K."


class OrgPutSchema(ma.Schema):
    """An org's settings; a field left out takes its default."""

    unit = ma.fields.String(
        validate=OneOf(TEMPERATURE_UNITS, error=MSG_TEMPERATURE_UNIT),
        metadata={"description": f"Unit of readings its sites send without one (default {DEFAULT_UNIT})",
                  "enum": list(TEMPERATURE_UNITS)},
    )
    timezone = TimeZoneName(metadata={"description": f"IANA zone of its sites' days (default {DEFAULT_TIMEZONE})",
                                      "example": "America/New_York"})
    threshold = FiniteNumber(
        validate=[Range(min=MIN_CELSIUS), shown_in_every_unit],
        metadata={"description": f"Too-hot threshold, degrees Celsius (default {DEFAULT_THRESHOLD:g})", "example": 25},
    )


class OrgSchema(ma.Schema):
    id = ma.fields.String()
    unit = ma.fields.String(metadata={"enum": list(TEMPERATURE_UNITS)})
    timezone = ma.fields.String()
    threshold = ma.fields.Float(metadata={"description": "Degrees Celsius"})
    updated_at = ma.fields.String(allow_none=True, metadata={"format": "date-time",
                                                             "description": "null: never configured (defaults)"})
