"""The contract of the building and room routes."""

from __future__ import annotations

import marshmallow as ma

from ..fields import MSG_ORG_ID, ReadingSchema, ReadingTimestamp, SensorId, room_of_sensor
from ..units import TEMPERATURE_UNITS
from ..windows import AggregateQuerySchema, WindowSchema


class RoomReadingSchema(ReadingSchema):
    """One temperature reading of a room: a reading whose sensor defaults to
    the room's own, timestamped in ISO 8601 or a number since the epoch,
    in a temperature unit (the unit-bounds check is ReadingSchema's)."""

    timestamp = ReadingTimestamp(
        required=True,
        metadata={
            "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number", "minimum": 0}],
            "description": (
                "ISO 8601 with an offset, or a number since the Unix epoch in the units of the query's "
                "precision (default seconds)"
            ),
            "example": 1658739178,
        },
    )
    unit = ma.fields.String(
        validate=ma.validate.OneOf(TEMPERATURE_UNITS, error=f"Not a temperature unit; one of: {', '.join(TEMPERATURE_UNITS)}."),
        metadata={"description": "Default: the sensor's unit, else its org's, else C"},
    )
    sensor = SensorId(metadata={"description": (
        "Default: the room's own sensor room.<org>.<building>.<room> (room.<building>.<room> for the room of no org); "
        "the own sensor of another room is refused")})

    def __init__(self, *args, building: str | None = None, room: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.place = (building, room)

    # Not skipped on field errors: in a batch those would silence every item.
    @ma.validates_schema(skip_on_field_errors=False)
    def _not_another_rooms_sensor(self, data, **kwargs):
        # room.<org>.<b>.<r> is room <b>/<r>'s own sensor: in another room it
        # would take that id from its room for good.
        found = room_of_sensor(data.get("sensor") or "")
        if found is not None and self.place != (None, None) and found[1:] != self.place:
            raise ma.ValidationError(
                f"{data['sensor']} is the own sensor of building {found[1]} room {found[2]}, not of this room: "
                "post it there, or name another sensor.", "sensor")


class RoomIngestResultSchema(ma.Schema):
    accepted = ma.fields.Integer(metadata={"description": "New readings"})
    duplicates = ma.fields.Integer(metadata={"description": "Readings already known (same sensor, same instant)"})
    sensors = ma.fields.List(ma.fields.String(), metadata={"description": "The sensors the readings went to"})
    expired = ma.fields.Integer(metadata={"description": (
        "Present only when above 0: readings older than any query reaches (as on POST /data); "
        "they count in the sensors' statistics, no window or room average will show them")})


class RoomAverageQuerySchema(AggregateQuerySchema):
    org = SensorId(
        MSG_ORG_ID,
        metadata={"description": "Rooms are per org: an all-orgs key reads this org's room (default: the room of no org); "
                                 "an org key its own org's (another org: 404)"},
    )
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
