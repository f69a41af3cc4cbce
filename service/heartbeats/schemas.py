"""The contract of POST/GET /heartbeat and GET /sensors."""

from __future__ import annotations

import time

import marshmallow as ma

from ..fields import MSG_SENSOR_ID, SENSOR_ID_PATTERN, LastReadingSchema, unit_field
from .mac import MAC_PATTERN, MSG_MAC, normalise_mac


class MacAddress(ma.fields.String):
    """A MAC address, normalised to lower case with colons."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": MSG_MAC, "example": "02:00:00:00:00:00", "pattern": MAC_PATTERN})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return normalise_mac(value)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class HeartbeatSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    mac_address = MacAddress(required=True)


class HeartbeatResultSchema(ma.Schema):
    sensor = ma.fields.String(metadata={"description": "Sensor id: the normalised MAC address"})
    mac_address = ma.fields.String(metadata={"example": "02:00:00:00:00:00"})
    status = ma.fields.String(metadata={"example": "online"})
    last_heartbeat = ma.fields.String(metadata={"description": "Server time of this heartbeat (ISO 8601 UTC)"})


class SensorsQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    limit = ma.fields.Integer(load_default=1000, validate=ma.validate.Range(min=1, max=5000))
    cursor = ma.fields.Integer(
        load_default=0,
        # Bounded to what a Redis rank offset can hold.
        validate=ma.validate.Range(min=0, max=2**53 - 1),
        metadata={"description": "next_cursor of the previous page"},
    )
    org = ma.fields.String(
        validate=ma.validate.Regexp(SENSOR_ID_PATTERN, error="Org id: " + MSG_SENSOR_ID),
        metadata={"description": "Only this org's sensors (an org key always gets its own)"},
    )
    unit = unit_field(metadata={
        "description": "Last readings of the sensors of this unit's kind in it (the others in their own unit)"})


class SensorStatusSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String(metadata={
        "description": "online; offline when silent for OFFLINE_AFTER seconds; never_heard: registered, nothing heard yet",
        "enum": ["online", "offline", "never_heard"]})
    last_heard = ma.fields.String(metadata={"description": "Last heartbeat or reading arrival (server time)"})
    last_heartbeat = ma.fields.String(allow_none=True)
    mac_address = ma.fields.String(allow_none=True)
    last_reading = ma.fields.Nested(
        LastReadingSchema, allow_none=True,
        metadata={"description": "In the sensor's own unit: its declared unit, else its input unit, else its kind's"},
    )
    stale = ma.fields.Boolean(metadata={
        "description": "last_reading's instant is the sensor's reading_interval (else OFFLINE_AFTER) seconds or more "
                       "before server_time"})
    too_hot = ma.fields.Boolean(metadata={
        "description": "A temperature sensor with a reading whose site has been too hot today (site's local day)"})
    org = ma.fields.String(allow_none=True)
    site = ma.fields.String(allow_none=True)
    building = ma.fields.String(allow_none=True)
    room = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    kind = ma.fields.String(allow_none=True)
    unit = ma.fields.String(allow_none=True)


class SensorsPageSchema(ma.Schema):
    sensors = ma.fields.List(ma.fields.Nested(SensorStatusSchema))
    too_hot_sites = ma.fields.List(ma.fields.String(), metadata={
        "description": "Sites of this page's sensors too hot today, as GET /v1/admin/toohotornot answers"})
    total = ma.fields.Integer(metadata={"description": "Sensors heard of or registered in all"})
    offline_after = ma.fields.Float(metadata={"description": "Seconds of silence after which a sensor is offline"})
    server_time = ma.fields.String()
    next_cursor = ma.fields.Integer(allow_none=True)


# A cursor may run ahead of this server's clock by no more than this (another
# replica's clock, a little ahead): further, it is not one a server gave.
CURSOR_AHEAD_MS = 60_000


class ChangesQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    since = ma.fields.Integer(
        required=True, strict=False,
        validate=ma.validate.Range(min=0, max=2**53 - 1),
        metadata={"description": "The cursor to answer the changes since: next_cursor of the previous answer, or "
                                 "the first time the time of a GET /sensors answer (epoch milliseconds, the "
                                 "server's clock)", "example": 1764640000000},
    )
    limit = ma.fields.Integer(load_default=1000, validate=ma.validate.Range(min=1, max=5000), metadata={
        "description": "At most this many changed sensors; more, and the answer is complete: false (list again)"})
    org = ma.fields.String(
        validate=ma.validate.Regexp(SENSOR_ID_PATTERN, error="Org id: " + MSG_SENSOR_ID),
        metadata={"description": "Only this org's sensors (an org key always gets its own)"},
    )
    unit = unit_field(metadata={
        "description": "Last readings of the sensors of this unit's kind in it (the others in their own unit)"})

    @ma.validates("since")
    def _not_ahead(self, value: int, **kwargs) -> None:
        if value > time.time() * 1000 + CURSOR_AHEAD_MS:
            raise ma.ValidationError("Ahead of the server's clock: pass next_cursor of the previous answer, or the "
                                     "time of a GET /sensors answer, in epoch milliseconds.")


class ChangesPageSchema(ma.Schema):
    sensors = ma.fields.List(ma.fields.Nested(SensorStatusSchema), metadata={
        "description": "The sensors heard, or turned offline, since the cursor (and a couple of seconds before it), "
                       "as GET /sensors lists them, most recently heard first"})
    too_hot_sites = ma.fields.List(ma.fields.String(), metadata={
        "description": "Sites of these sensors too hot today, as GET /v1/admin/toohotornot answers"})
    complete = ma.fields.Boolean(metadata={
        "description": "false: more than limit sensors changed and none are listed; list GET /sensors again"})
    fleet = ma.fields.Integer(metadata={
        "description": "Changes when a sensor is registered or first heard of (an org key: registered to its org): "
                       "list GET /sensors again then. A count of ids, not the listing's total"})
    offline_after = ma.fields.Float(metadata={"description": "Seconds of silence after which a sensor is offline"})
    server_time = ma.fields.String()
    next_cursor = ma.fields.Integer(metadata={
        "description": "since for the next call: the latest change answered (unchanged when there was none)"})
