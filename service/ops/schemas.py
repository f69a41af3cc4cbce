"""The contract of GET /v1/status."""

from __future__ import annotations

import marshmallow as ma


class WorkerStatusSchema(ma.Schema):
    worker = ma.fields.String(metadata={"description": "The worker's name: host, process id and a random suffix"})
    last_pass = ma.fields.String(metadata={"description": "When it last completed an offline detection pass (ISO 8601 UTC)"})
    age = ma.fields.Float(metadata={"description": "Seconds since that pass"})
    interval = ma.fields.Float(metadata={"description": "Its OFFLINE_CHECK_INTERVAL (seconds)"})
    late = ma.fields.Boolean(metadata={"description": "No pass for more than 3 intervals: stalled, or stopped without notice"})


class StatusSchema(ma.Schema):
    detection_current = ma.fields.Boolean(
        metadata={"description": "At least one worker is not late: sensors going silent are being noticed"}
    )
    workers = ma.fields.List(ma.fields.Nested(WorkerStatusSchema))
