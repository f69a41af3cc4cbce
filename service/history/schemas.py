"""The contract of the history export routes."""

from __future__ import annotations

import marshmallow as ma

from ..fields import MSG_SENSOR_ID, QueryInstant, SensorId, is_sensor_id
from ..windows import UnitQuerySchema

# Sensors one GET /v1/export may cover (each one streamed after the other).
MAX_EXPORT_SENSORS = 10_000
FORMAT_NAMES = ("csv", "ndjson")
# The parameters of GET /v1/export that choose its sensors: exactly one.
SELECTORS = ("org", "site", "sensors")
MSG_ONE_SELECTOR = "Give exactly one of org, site or sensors."


class ExportRangeSchema(ma.Schema):
    start = QueryInstant(required=True, metadata={"type": "string", "description": "Inclusive; ISO 8601 or epoch seconds"})
    end = QueryInstant(metadata={"type": "string", "description": "Exclusive; ISO 8601 or epoch seconds; default now"})
    format = ma.fields.String(load_default="csv", validate=ma.validate.OneOf(FORMAT_NAMES), metadata={
        "description": "csv (a header row, one line per row) or ndjson (one JSON object per line)"})


class ExportQuerySchema(ExportRangeSchema, UnitQuerySchema):
    pass


class ExportSensorIds(ma.fields.Field):
    """Comma-separated sensor ids (a comma is not in their charset); repeats
    dropped; at most MAX_EXPORT_SENSORS."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ma.ValidationError("Not a valid string.")
        ids = list(dict.fromkeys(value.split(",")))
        bad = [sensor_id for sensor_id in ids if not is_sensor_id(sensor_id)]
        if bad:
            raise ma.ValidationError(f"{MSG_SENSOR_ID}; not: {', '.join(repr(b[:130]) for b in bad[:5])}")
        if len(ids) > MAX_EXPORT_SENSORS:
            raise ma.ValidationError(f"At most {MAX_EXPORT_SENSORS} sensors per export; {len(ids)} were given.")
        return ids


class ManyExportQuerySchema(ExportRangeSchema):
    org = SensorId("Org id: " + MSG_SENSOR_ID, metadata={"description": "Every sensor of this org"})
    site = SensorId("Site id: " + MSG_SENSOR_ID, metadata={"description": "Every sensor of this site"})
    sensors = ExportSensorIds(metadata={
        "type": "string", "example": "lobby-1,lobby-2",
        "description": f"Comma-separated sensor ids, at most {MAX_EXPORT_SENSORS}",
    })

    @ma.validates_schema(skip_on_field_errors=True)
    def _one_selector(self, data, **kwargs):
        given = [name for name in SELECTORS if name in data]
        if len(given) != 1:
            raise ma.ValidationError({name: [MSG_ONE_SELECTOR] for name in given or SELECTORS})
