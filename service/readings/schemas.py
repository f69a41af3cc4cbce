"""The contract of brief 001's routes, as marshmallow schemas.

These schemas are the documented contract and the source of the OpenAPI
document. ``POST /data`` validates with the lean checker in
``validation.py`` (per-item marshmallow costs tens of microseconds, too
much for batches of 10,000); tests prove both accept and reject the same
inputs with the same messages.
"""

from __future__ import annotations

import math
import re

import marshmallow as ma

from .. import timeutil, units

# JSON-schema form for the OpenAPI document; Python matches with fullmatch so
# that a trailing newline cannot slip past ``$``.
SENSOR_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
is_sensor_id = re.compile(r"[A-Za-z0-9._:\-]{1,128}").fullmatch
MSG_SENSOR_ID = "Sensor ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"
MSG_NOT_NUMBER = "Not a valid number."
MSG_NOT_FINITE = "Special numeric values (nan or infinity) are not permitted."
MSG_NOT_STRING = "Not a valid string."


def check_number(value) -> float:
    """A finite JSON number (booleans and strings are not numbers)."""
    kind = type(value)
    if kind is not float and kind is not int:
        raise ma.ValidationError(MSG_NOT_NUMBER)
    try:
        number = float(value)
    except OverflowError:
        raise ma.ValidationError(MSG_NOT_FINITE) from None
    if not math.isfinite(number):
        raise ma.ValidationError(MSG_NOT_FINITE)
    return number


class FiniteNumber(ma.fields.Field):
    """A JSON number that is finite; ``true`` and ``"21.5"`` are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        return check_number(value)

    def _jsonschema_type_mapping(self):  # pragma: no cover - documentation only
        return {"type": "number"}


class Instant(ma.fields.Field):
    """An ISO 8601 timestamp with a UTC offset; deserialises to
    ``(microseconds since the epoch, text in the sent offset)``."""

    def __init__(self, assume_tz=None, **kwargs):
        super().__init__(**kwargs)
        self.assume_tz = assume_tz

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return timeutil.parse_instant(value, self.assume_tz)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class SensorId(ma.fields.String):
    """An id in the sensor-id charset. Sensors, sites and orgs share it, so
    no id can break out of its Redis hash tag; ``message`` names the kind."""

    def __init__(self, message: str = MSG_SENSOR_ID, **kwargs):
        def check(value: str) -> None:
            if not is_sensor_id(value):
                raise ma.ValidationError(message)

        metadata = {"description": message, "pattern": SENSOR_ID_PATTERN, "minLength": 1, "maxLength": 128}
        metadata.update(kwargs.pop("metadata", {}))
        kwargs.setdefault("validate", check)
        kwargs.setdefault("error_messages", {"invalid": MSG_NOT_STRING})
        super().__init__(metadata=metadata, **kwargs)


class ReadingSchema(ma.Schema):
    """One reading of one sensor."""

    class Meta:
        unknown = ma.RAISE

    sensor = SensorId(required=True, metadata={"example": "sensor-42"})
    timestamp = Instant(
        required=True,
        metadata={
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with Z or an offset; the same instant in another offset is the same reading.",
            "example": "2021-11-08T22:38:09.123+01:00",
        },
    )
    value = FiniteNumber(required=True, metadata={"type": "number", "example": 21.5})
    unit = ma.fields.String(
        validate=ma.validate.OneOf(units.UNITS, error=units.MSG_UNIT),
        error_messages={"invalid": MSG_NOT_STRING},
        metadata={
            "description": (
                "Unit of this value. Without it the sensor's unit applies (then its org's, then its kind's "
                "default). Stored in the kind's canonical unit (temperature: C)."
            ),
            "example": "F",
        },
    )

    def __init__(self, *args, assume_tz=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timestamp"].assume_tz = assume_tz

    # Not skipped on field errors: in a batch those would silence every item.
    @ma.validates_schema(skip_on_field_errors=False)
    def _physically_possible(self, data, **kwargs):
        unit = data.get("unit")
        if unit is not None and "value" in data:
            problem = units.bounds_error(units.to_canonical(data["value"], unit), units.KIND_OF_UNIT[unit])
            if problem:
                raise ma.ValidationError(problem, "value")


class IngestResultSchema(ma.Schema):
    accepted = ma.fields.Integer(metadata={"description": "Readings new to sensorhub, now counted"})
    duplicates = ma.fields.Integer(metadata={"description": "Readings already known (same sensor, same instant), ignored"})


class StatisticsSchema(ma.Schema):
    last_measurement = ma.fields.String(
        allow_none=True,
        metadata={"description": "Latest reading instant, in the offset it was sent in", "example": "2021-11-09T21:38:09+01:00"},
    )
    count = ma.fields.Integer(metadata={"description": "Distinct readings since the last clear"})
    avg = ma.fields.Float(
        allow_none=True,
        metadata={
            "description": (
                "Arithmetic mean of those readings, the double nearest to the exact mean whatever their order "
                "(0.0 when there are none; null only for a sum that overflowed before exact sums, until a clear)"
            )
        },
    )
