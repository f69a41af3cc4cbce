"""The contract of the history export routes."""

from __future__ import annotations

import marshmallow as ma

from ..fields import MSG_SENSOR_ID, QueryInstant, SensorId, SensorIdList
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


class ManyExportQuerySchema(ExportRangeSchema):
    org = SensorId("Org id: " + MSG_SENSOR_ID, metadata={"description": "Every sensor of this org"})
    site = SensorId("Site id: " + MSG_SENSOR_ID, metadata={"description": "Every sensor of this site"})
    sensors = SensorIdList(MAX_EXPORT_SENSORS, "export", metadata={
        "type": "string", "example": "lobby-1,lobby-2",
        "description": f"Comma-separated sensor ids, at most {MAX_EXPORT_SENSORS}",
    })

    @ma.validates_schema(skip_on_field_errors=True)
    def _one_selector(self, data, **kwargs):
        given = [name for name in SELECTORS if name in data]
        if len(given) != 1:
            raise ma.ValidationError({name: [MSG_ONE_SELECTOR] for name in given or SELECTORS})
