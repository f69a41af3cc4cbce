"""The contract of GET /v1/events."""

from __future__ import annotations

import re

import marshmallow as ma

from ..fields import SensorId
from .store import EVENT_TYPES

STREAM_ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
MSG_CURSOR = "Not a cursor returned by this endpoint."


def _validate_cursor(value: str) -> None:
    # Both parts of a stream id are 64-bit; 0-0 precedes every entry, so no
    # page ever ends there (and Redis refuses an interval ending before it).
    if not re.fullmatch(STREAM_ID_PATTERN, value):
        raise ma.ValidationError(MSG_CURSOR)
    milliseconds, sequence = (int(part) for part in value.split("-"))
    if milliseconds >= 2**64 or sequence >= 2**64 or milliseconds == sequence == 0:
        raise ma.ValidationError(MSG_CURSOR)


class EventQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    type = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(EVENT_TYPES)),
        metadata={"description": "Only events of these types (repeat the parameter for several)"},
    )
    sensor = SensorId(metadata={"description": "Only events about this sensor"})
    org = ma.fields.String(validate=ma.validate.Length(min=1, max=128), metadata={"description": "Only events of this org"})
    cursor = ma.fields.String(
        validate=_validate_cursor,
        metadata={"description": "next_cursor of the previous page", "pattern": STREAM_ID_PATTERN},
    )
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class EventSchema(ma.Schema):
    """One event, as delivered to webhooks (plus its stream position)."""

    id = ma.fields.String(metadata={"description": "Unique event id; the webhook Idempotency-Key"})
    subject = ma.fields.String(metadata={"description": "The sensor or site the event is about"})
    type = ma.fields.String(metadata={"description": "sensor.offline, sensor.online or site.too_hot", "example": "sensor.offline"})
    sensor = ma.fields.String(allow_none=True, metadata={"description": "The sensor, for sensor events"})
    site = ma.fields.String(allow_none=True, metadata={"description": "The sensor's site, or the site of site events"})
    org = ma.fields.String(allow_none=True)
    at = ma.fields.String(metadata={"description": "When it happened (server time, ISO 8601 UTC)"})
    last_heard = ma.fields.String(metadata={"description": "Sensor events: when the sensor was last heard"})
    stream_id = ma.fields.String(metadata={"description": "Position in the event stream"})

    @ma.post_dump(pass_original=True)
    def keep_event_data(self, data, original, **kwargs):
        # Events of other types carry fields of their own: pass them through.
        return {**original, **data}


class EventPageSchema(ma.Schema):
    events = ma.fields.List(ma.fields.Nested(EventSchema))
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "Pass as cursor for older events; null at the end"})
