"""The contract of batch ingest and statistics, as marshmallow schemas.

A reading itself is ``fields.ReadingSchema`` (rooms take it too): the
documented contract and the source of the OpenAPI document. ``POST /data``
validates with the lean checker in ``validation.py`` (per-item marshmallow
costs tens of microseconds, too much for batches of 10,000); tests prove
both accept and reject the same inputs with the same messages.
"""

from __future__ import annotations

import marshmallow as ma


class IngestResultSchema(ma.Schema):
    accepted = ma.fields.Integer(metadata={"description": "Readings new to sensorhub, now counted"})
    duplicates = ma.fields.Integer(metadata={"description": "Readings already known (same sensor, same instant), ignored"})
    expired = ma.fields.Integer(metadata={"description": (
        "Present only when above 0: readings (accepted or duplicate) older than any query reaches, "
        "RETENTION and the longest ROLLUPS tier; they count in the sensor's statistics, no window, "
        "series or history will show them")})


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
