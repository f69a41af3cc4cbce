"""The contract of the too-hot-or-not routes, as marshmallow schemas."""

from __future__ import annotations

import re
from datetime import date

import marshmallow as ma
from marshmallow.validate import OneOf

from .. import timeutil
from ..fields import MSG_ORG_ID, MSG_SITE_ID, FiniteNumber, SensorId
from ..units import MSG_TEMPERATURE_UNIT, TEMPERATURE_UNITS

MSG_EPOCH = "Not a valid timestamp: send seconds since the Unix epoch as a number (example: 1658739178)."
MSG_EPOCH_RANGE = "The timestamp must lie between 1970-01-01 and 2100-01-01 UTC."
MSG_DATE = "Not a valid date: send YYYY-MM-DD."
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}").fullmatch


class EpochNumber(ma.fields.Float):
    """A number since the Unix epoch in ``precision`` units (the query's
    ``precision``: s, ms or us, as for POST /data), integer or fractional;
    deserialises to microseconds since the epoch. ``true`` and
    ``"1658739178"`` are refused."""

    def __init__(self, precision: str = "s", **kwargs):
        super().__init__(**kwargs)
        self.precision = precision

    def _deserialize(self, value, attr, data, **kwargs):
        precision = self.precision
        if type(value) not in (int, float):
            if precision == "s":
                raise ma.ValidationError(MSG_EPOCH)
            raise ma.ValidationError(
                f"Not a valid timestamp: send {timeutil.EPOCH_UNIT_NAMES[precision]} since the Unix epoch "
                f"as a number (precision {precision}).")
        try:
            return timeutil.epoch_to_us(value, precision)
        except ValueError as exc:
            raise ma.ValidationError(MSG_EPOCH_RANGE if precision == "s" else str(exc)) from None


class TemperatureSchema(ma.Schema):
    """One thermometer reading of a site: camelCase fields, an epoch number
    (seconds unless ``precision`` says otherwise)."""

    siteId = SensorId(MSG_SITE_ID, required=True, metadata={"example": "abc123"})
    orgId = SensorId(MSG_ORG_ID, required=True, metadata={"example": "alphacorp"})
    temperature = FiniteNumber(required=True, metadata={"example": 27.3})
    timestamp = EpochNumber(required=True, metadata={
        "example": 1658739178,
        "description": "A number since the Unix epoch in the units of the query's precision (default seconds)"})
    unit = ma.fields.String(
        validate=OneOf(TEMPERATURE_UNITS, error=MSG_TEMPERATURE_UNIT),
        metadata={"description": "Unit of temperature; default: the sensor's, else the org's, else C",
                  "enum": list(TEMPERATURE_UNITS)},
    )
    sensorId = SensorId(metadata={"description": "Default: the site id (one sensor per site)"})

    def __init__(self, *args, precision: str = "s", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timestamp"].precision = precision


class TemperatureIngestResultSchema(ma.Schema):
    accepted = ma.fields.Integer(metadata={"description": "New readings"})
    duplicates = ma.fields.Integer(metadata={"description": "Readings already known (ignored)"})
    sitesRegistered = ma.fields.List(ma.fields.String(), metadata={"description": "Sites seen for the first time"})
    expired = ma.fields.Integer(metadata={"description": (
        "Present only when above 0: readings (accepted or duplicate) of a site's local day that ended more "
        "than TOOHOT_RETENTION_DAYS ago; kept as their sensor's readings, in no too-hot answer")})


class Date(ma.fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not DATE_TEXT(text):
            raise ma.ValidationError(MSG_DATE)
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ma.ValidationError(MSG_DATE) from None


class AnswerQuerySchema(ma.Schema):
    siteId = SensorId(MSG_SITE_ID, required=True)
    date = Date(metadata={"description": "The site's local day, YYYY-MM-DD (default: today there)",
                          "format": "date"})
    unit = ma.fields.String(
        validate=OneOf(TEMPERATURE_UNITS, error=MSG_TEMPERATURE_UNIT),
        metadata={"description": "Unit of the temperatures in the answer (default: the org's)",
                  "enum": list(TEMPERATURE_UNITS)},
    )


class AnswerSchema(ma.Schema):
    siteId = ma.fields.String()
    orgId = ma.fields.String(allow_none=True)
    tooHot = ma.fields.Boolean(metadata={"description": "Some reading of the day was above the threshold"})
    date = ma.fields.String(metadata={"format": "date", "description": "The site's local day"})
    timezone = ma.fields.String()
    threshold = ma.fields.Float(metadata={"description": "In the answer's unit"})
    maxTemperature = ma.fields.Float(allow_none=True)
    maxAt = ma.fields.String(allow_none=True, metadata={"format": "date-time",
                                                        "description": "Instant of the maximum, in the site's zone"})
    minutesAbove = ma.fields.Integer(metadata={"description": "Minutes of the day with a reading above the threshold"})
    readings = ma.fields.Integer(metadata={"description": "Distinct readings of the day"})
    unit = ma.fields.String()
