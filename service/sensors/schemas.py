"""The contract of the sensor registry, window and series routes."""

from __future__ import annotations

import re

import marshmallow as ma

from .. import units
from ..fields import (
    MSG_PLACE_ID,
    MSG_SENSOR_ID,
    PLACE_ID_PATTERN,
    SENSOR_ID_PATTERN,
    LastReadingSchema,
    QueryInstant,
    ReplaceSchema,
    SensorIdList,
    is_place_id,
    is_sensor_id,
    unit_field,
)
from ..windows import MSG_HISTORY, Duration, SeriesRangeSchema, UnitQuerySchema, WindowSchema

MAC_PATTERN = r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$"
is_mac = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}").fullmatch
MSG_MAC = "A MAC address is six hex pairs separated by : or - (e.g. 00:1a:2b:3c:4d:5e)"

def _id_validator(check, message):
    def validate(value):
        if not check(value):
            raise ma.ValidationError(message)

    return validate


def _id_field(check, message, pattern, **kwargs):
    return ma.fields.String(validate=_id_validator(check, message), metadata={"description": message, "pattern": pattern}, **kwargs)


MAX_READING_INTERVAL = 7 * 86_400


class SensorMetadataSchema(ReplaceSchema):
    """What PUT /v1/sensors/<id> sets. Fields left out or null are cleared;
    an empty object is refused (it would clear them all)."""

    class Meta:
        unknown = ma.RAISE

    # No org: an all-orgs key's to give (an org key's null is a 422, service.auth.assigned_org).
    null_kept = ("org",)
    org = _id_field(is_sensor_id, "Org id: " + MSG_SENSOR_ID, SENSOR_ID_PATTERN, allow_none=True)
    site = _id_field(is_sensor_id, "Site id: " + MSG_SENSOR_ID, SENSOR_ID_PATTERN, allow_none=True)
    building = _id_field(is_place_id, MSG_PLACE_ID, PLACE_ID_PATTERN, allow_none=True)
    room = _id_field(is_place_id, MSG_PLACE_ID, PLACE_ID_PATTERN, allow_none=True)
    kind = ma.fields.String(
        validate=ma.validate.OneOf(units.KIND_NAMES),
        allow_none=True,
        metadata={"description": "What the sensor measures; sets the canonical unit and physical bounds."},
    )
    unit = unit_field(allow_none=True, metadata={"description": "Unit of its readings sent without one (must suit the kind)."})
    mac = ma.fields.String(validate=_id_validator(is_mac, MSG_MAC), allow_none=True, metadata={"description": MSG_MAC, "example": "00:1a:2b:3c:4d:5e"})
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200), allow_none=True, metadata={"description": "Display name"})
    reading_interval = ma.fields.Integer(
        strict=True, validate=ma.validate.Range(min=1, max=MAX_READING_INTERVAL), allow_none=True,
        metadata={"description": "Seconds expected between its readings: an older last value is stale "
                                 "(GET /sensors); without it, OFFLINE_AFTER"})

    @ma.validates_schema(skip_on_field_errors=True)
    def _consistent(self, data, **kwargs):
        if "room" in data and "building" not in data:
            raise ma.ValidationError("A room belongs to a building: give building too.", "building")
        unit, kind = data.get("unit"), data.get("kind")
        if unit and kind and units.unit_mismatch(unit, kind):
            raise ma.ValidationError(units.unit_mismatch(unit, kind), "unit")

    @ma.post_load
    def _normalise(self, data, **kwargs):
        if "unit" in data and "kind" not in data:
            data["kind"] = units.KIND_OF_UNIT[data["unit"]]
        if "mac" in data:
            data["mac"] = data["mac"].lower().replace("-", ":")
        return data


class SensorStatisticsSchema(ma.Schema):
    count = ma.fields.Integer()
    avg = ma.fields.Float(allow_none=True, metadata={"description": "Mean of all readings since the last clear"})
    last_measurement = ma.fields.String(allow_none=True)
    last_value = ma.fields.Float(allow_none=True)
    unit = ma.fields.String(allow_none=True, metadata={"description": "Unit of avg and last_value"})


class SensorSchema(ma.Schema):
    id = ma.fields.String()
    registered = ma.fields.Boolean(metadata={"description": "False for a sensor only known from its readings"})
    org = ma.fields.String(allow_none=True)
    site = ma.fields.String(allow_none=True)
    building = ma.fields.String(allow_none=True)
    room = ma.fields.String(allow_none=True)
    kind = ma.fields.String(allow_none=True)
    unit = ma.fields.String(allow_none=True, metadata={"description": "Declared unit"})
    input_unit = ma.fields.String(
        allow_none=True, metadata={"description": "Unit applied to readings sent without one (sensor, else org, else kind default)"}
    )
    mac = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    reading_interval = ma.fields.Integer(allow_none=True, metadata={"description": "Seconds expected between readings"})
    registered_at = ma.fields.String(allow_none=True)
    updated_at = ma.fields.String(allow_none=True)
    last_seen = ma.fields.String(allow_none=True, metadata={"description": "When sensorhub last heard of it (as last_heard)"})
    status = ma.fields.String(
        metadata={"description": "online, or offline when nothing was heard for OFFLINE_AFTER seconds (or never); as GET /sensors"}
    )
    last_heard = ma.fields.String(allow_none=True, metadata={"description": "Last heartbeat or reading arrival (server time)"})
    last_heartbeat = ma.fields.String(allow_none=True, metadata={"description": "Last heartbeat (server time)"})
    last_reading = ma.fields.Nested(
        LastReadingSchema, allow_none=True, metadata={"description": "The latest reading, in statistics.unit"}
    )
    statistics = ma.fields.Nested(SensorStatisticsSchema)


class SensorPageSchema(ma.Schema):
    sensors = ma.fields.List(ma.fields.Nested(SensorSchema))
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "Pass as cursor= for the next page; null on the last"})


class ListQuerySchema(ma.Schema):
    org = _id_field(is_sensor_id, MSG_SENSOR_ID, SENSOR_ID_PATTERN)
    site = _id_field(is_sensor_id, MSG_SENSOR_ID, SENSOR_ID_PATTERN)
    building = _id_field(is_place_id, MSG_PLACE_ID, PLACE_ID_PATTERN)
    room = _id_field(is_place_id, MSG_PLACE_ID, PLACE_ID_PATTERN)
    kind = ma.fields.String(validate=ma.validate.OneOf(units.KIND_NAMES))
    cursor = _id_field(is_sensor_id, "The next_cursor of the previous page", SENSOR_ID_PATTERN)
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))

    @ma.validates_schema(skip_on_field_errors=True)
    def _room_needs_building(self, data, **kwargs):
        if "room" in data and "building" not in data:
            raise ma.ValidationError("A room belongs to a building: give building too.", "building")


class SeriesQuerySchema(SeriesRangeSchema, UnitQuerySchema):
    pass


class SensorAggregateQuerySchema(UnitQuerySchema):
    """A trailing window of raw readings (as a room's average), or any range."""

    window = Duration(metadata={
        "type": "string", "example": "15m",
        "description": "Trailing window [end - window, end) of raw readings: 1m up to RETENTION; default 15m. Not with start",
    })
    start = QueryInstant(metadata={
        "type": "string",
        "description": "Any range [start, end) within the longest history tier instead of a window: ISO 8601 or epoch "
        "seconds. " + MSG_HISTORY,
    })
    end = QueryInstant(metadata={"type": "string", "description": "End (exclusive): ISO 8601 or epoch seconds; default now"})

    @ma.validates_schema(skip_on_field_errors=True)
    def _window_or_start(self, data, **kwargs):
        if "window" in data and "start" in data:
            raise ma.ValidationError("Give window (a trailing window) or start (a range), not both.", "window")


# Sensors one GET /v1/series asks about (a dashboard asks in chunks of this size).
MAX_SERIES_SENSORS = 100


class SeriesBatchQuerySchema(SeriesRangeSchema):
    unit = unit_field(metadata={
        "description": "The series of the sensors of this unit's kind in it (the others in their own unit)"})
    sensors = SensorIdList(MAX_SERIES_SENSORS, "request", required=True, metadata={
        "type": "string", "example": "lobby-1,lobby-2",
        "description": f"Comma-separated sensor ids, at most {MAX_SERIES_SENSORS}",
    })


class SourceSchema(ma.Schema):
    source = ma.fields.String(metadata={"description": "raw (every reading) or a history tier (1h, 1d: its buckets)"})
    start = ma.fields.String(metadata={"description": "Inclusive: the first instant whose readings this source counts"})
    end = ma.fields.String(metadata={
        "description": "Exclusive; a tier counts whole buckets, so its span may reach past the range's end"})
    aligned = ma.fields.String(metadata={
        "description": "Present when this tier's buckets (of this size) cannot start at the output buckets' local "
        "midnight (a zone with a :30 or :45 offset): each is counted whole in the output bucket holding its start"})


SOURCES = {"description": "Which span of the range came from which source, oldest first: joined without a gap or overlap"}


class AggregateSchema(ma.Schema):
    sensor = ma.fields.String()
    window = ma.fields.Nested(WindowSchema)
    unit = ma.fields.String(allow_none=True)
    count = ma.fields.Integer()
    avg = ma.fields.Float(allow_none=True)
    min = ma.fields.Float(allow_none=True)
    max = ma.fields.Float(allow_none=True)
    sources = ma.fields.List(ma.fields.Nested(SourceSchema), metadata=SOURCES)


class PointSchema(ma.Schema):
    t = ma.fields.String(metadata={
        "description": "Start of the bucket: aligned on its size in UTC (1m to 1h; 1d and 1w in UTC, weeks from "
        "Monday), or local midnight in tz (1d, 1w, 1mo); may precede the range's start"})
    count = ma.fields.Integer()
    avg = ma.fields.Float()
    min = ma.fields.Float()
    max = ma.fields.Float()


class SeriesSchema(ma.Schema):
    sensor = ma.fields.String()
    window = ma.fields.Nested(WindowSchema)
    bucket = ma.fields.String()
    tz = ma.fields.String(metadata={"description": "Time zone of the 1d, 1w and 1mo buckets"})
    unit = ma.fields.String(allow_none=True)
    points = ma.fields.List(ma.fields.Nested(PointSchema))
    sources = ma.fields.List(ma.fields.Nested(SourceSchema), metadata=SOURCES)


class SensorSeriesSchema(ma.Schema):
    sensor = ma.fields.String()
    unit = ma.fields.String(allow_none=True, metadata={
        "description": "The sensor's own unit: declared, else the one its readings arrive in, else its kind's canonical one"})
    points = ma.fields.List(ma.fields.Nested(PointSchema))


class SeriesBatchSchema(ma.Schema):
    window = ma.fields.Nested(WindowSchema)
    bucket = ma.fields.String()
    tz = ma.fields.String(metadata={"description": "Time zone of the 1d, 1w and 1mo buckets"})
    sources = ma.fields.List(ma.fields.Nested(SourceSchema), metadata=SOURCES)
    series = ma.fields.List(ma.fields.Nested(SensorSeriesSchema), metadata={"description": "In the order asked"})
    unknown = ma.fields.List(ma.fields.String(), metadata={
        "description": "Sensors asked about that were never registered nor heard of, or that the API key may not reach"})
