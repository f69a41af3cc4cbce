"""The contract of the building and room routes (brief 002)."""

from __future__ import annotations

import marshmallow as ma

from .. import timeutil, units
from ..readings.schemas import FiniteNumber, SensorId
from ..sensors.schemas import AggregateQuerySchema, WindowSchema

TEMPERATURE_UNITS = units.KINDS["temperature"].units
MSG_STAMP = "Send an ISO 8601 timestamp with an offset or epoch seconds (a number)."


class Timestamp(ma.fields.Field):
    """ISO 8601 with an offset, or epoch seconds; deserialises to
    ``(microseconds since the epoch, ISO text)``."""

    def __init__(self, assume_tz=None, **kwargs):
        super().__init__(**kwargs)
        self.assume_tz = assume_tz

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) in (int, float):
            try:
                us = timeutil.epoch_seconds_to_us(value)
            except ValueError as exc:
                raise ma.ValidationError(str(exc)) from None
            return us, timeutil.us_to_iso(us)
        if type(value) is not str:
            raise ma.ValidationError(MSG_STAMP)
        try:
            return timeutil.parse_instant(value, self.assume_tz)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class RoomReadingSchema(ma.Schema):
    """One temperature reading of a room."""

    class Meta:
        unknown = ma.RAISE

    value = FiniteNumber(required=True, metadata={"type": "number", "example": 21.5})
    timestamp = Timestamp(
        required=True,
        metadata={"description": "ISO 8601 with an offset, or epoch seconds", "example": 1658739178},
    )
    unit = ma.fields.String(
        validate=ma.validate.OneOf(TEMPERATURE_UNITS, error=f"Not a temperature unit; one of: {', '.join(TEMPERATURE_UNITS)}."),
        metadata={"description": "Default: the sensor's unit, else its org's, else C"},
    )
    sensor = SensorId(metadata={"description": "Default: the room's own sensor room.<building>.<room>"})

    def __init__(self, *args, assume_tz=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timestamp"].assume_tz = assume_tz

    # Not skipped on field errors: in a batch those would silence every item.
    @ma.validates_schema(skip_on_field_errors=False)
    def _physically_possible(self, data, **kwargs):
        unit = data.get("unit")
        if unit is not None and "value" in data:
            problem = units.bounds_error(units.to_canonical(data["value"], unit), "temperature")
            if problem:
                raise ma.ValidationError(problem, "value")


class RoomIngestResultSchema(ma.Schema):
    accepted = ma.fields.Integer(metadata={"description": "New readings"})
    duplicates = ma.fields.Integer(metadata={"description": "Readings already known (same sensor, same instant)"})
    sensors = ma.fields.List(ma.fields.String(), metadata={"description": "The sensors the readings went to"})


class RoomAverageQuerySchema(AggregateQuerySchema):
    unit = ma.fields.String(
        validate=ma.validate.OneOf(TEMPERATURE_UNITS, error=f"Not a temperature unit; one of: {', '.join(TEMPERATURE_UNITS)}."),
        metadata={"description": "Unit of the answer; default C"},
    )


class RoomAverageSchema(ma.Schema):
    building = ma.fields.String()
    room = ma.fields.String()
    window = ma.fields.Nested(WindowSchema)
    unit = ma.fields.String()
    avg = ma.fields.Float(allow_none=True, metadata={"description": "Mean of every reading of every sensor of the room in the window"})
    count = ma.fields.Integer()
    sensors = ma.fields.List(ma.fields.String(), metadata={"description": "Sensors with readings in the window"})
