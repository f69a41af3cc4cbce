"""The query arguments of the InfluxDB write routes, as marshmallow schemas
(validation and the OpenAPI document). Arguments InfluxDB takes that mean
nothing here (``org``, ``bucket``, ``db``, ``rp``, ...) are accepted and
ignored: the API key alone decides what a write may reach."""

from __future__ import annotations

import marshmallow as ma

from .parsing import PRECISIONS, V1_PRECISIONS

_PRECISION = ma.fields.String(
    load_default="ns",
    validate=ma.validate.OneOf(PRECISIONS, error=f"Not a known precision; one of: {', '.join(PRECISIONS)}."),
    metadata={"description": "Unit of the lines' timestamps (nanoseconds by default, as InfluxDB)"},
)


_V1_PRECISION = ma.fields.String(
    load_default="ns",
    validate=ma.validate.OneOf(V1_PRECISIONS, error=f"Not a known precision; one of: {', '.join(V1_PRECISIONS)}."),
    metadata={"description": "Unit of the lines' timestamps, as InfluxDB 1.x names them (n and u are ns and us; "
                             "m and h are minutes and hours; nanoseconds by default)"},
)


class WriteV2QuerySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    org = ma.fields.String(metadata={"description": "Accepted and ignored (the API key decides the org)"})
    bucket = ma.fields.String(metadata={"description": "Accepted and ignored (sensorhub has one store)"})
    precision = _PRECISION


class WriteV1QuerySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    db = ma.fields.String(metadata={"description": "Accepted and ignored (sensorhub has one store)"})
    precision = _V1_PRECISION
