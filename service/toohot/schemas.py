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


class EpochSeconds(ma.fields.Float):
    """Seconds since the Unix epoch, integer or fractional; deserialises to
    microseconds since the epoch. ``true`` and ``"1658739178"`` are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) not in (int, float):
            raise ma.ValidationError(MSG_EPOCH)
        try:
            return timeutil.epoch_seconds_to_us(value)
        except ValueError:
            raise ma.ValidationError(MSG_EPOCH_RANGE) from None


class TemperatureSchema(ma.Schema):
    """One thermometer reading of a site: camelCase fields, epoch seconds."""

    siteId = SensorId(MSG_SITE_ID, required=True, metadata={"example": "abc123"})
    orgId = SensorId(MSG_ORG_ID, required=True, metadata={"example": "alphacorp"})
    temperature = FiniteNumber(required=True, metadata={"example": 27.3})
    timestamp = EpochSeconds(required=True, metadata={"example": 1658739178, "description": "Seconds since the epoch"})
    unit = ma.fields.String(
        validate=OneOf(TEMPERATURE_UNITS, error=MSG_TEMPERATURE_UNIT),
        metadata={"description": "Unit of temperature; default: the sensor's, else the org's, else C",
                  "enum": list(TEMPERATURE_UNITS)},
    )
    sensorId = SensorId(metadata={"description": "Default: the site id (one sensor per site)"})


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
