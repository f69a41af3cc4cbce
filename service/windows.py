"""Windows of time a query asks about: trailing windows and bucketed ranges.

A trailing window is [end - window, end), end defaulting to now; it lasts
from 1 minute to the retention and may not reach before the retained
readings. A sensor's aggregate and a room's average are asked and answered
the same way. A series covers [start, end) in buckets of SERIES_STEPS,
aligned on their size.
"""

from __future__ import annotations

import re

import marshmallow as ma

from . import timeutil
from .errors import abort
from .fields import QueryInstant, unit_field

_WINDOW = re.compile(r"([1-9][0-9]{0,8})([smhd])").fullmatch
_WINDOW_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MSG_WINDOW = "A duration such as 90s, 15m, 2h or 1d."
# Bucket sizes of a series, in seconds.
SERIES_STEPS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600}


def parse_duration(text: str) -> int:
    match = _WINDOW(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(MSG_WINDOW)
    return int(match.group(1)) * _WINDOW_SECONDS[match.group(2)]


class Duration(ma.fields.Field):
    """``15m``-style duration; deserialises to seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class UnitQuerySchema(ma.Schema):
    unit = unit_field(metadata={"description": "Convert the answer's values to this unit for display"})


class AggregateQuerySchema(UnitQuerySchema):
    window = Duration(load_default=900, metadata={"type": "string", "example": "15m", "description": "1m up to RETENTION; default 15m"})
    end = QueryInstant(metadata={"type": "string", "description": "Window end (exclusive): ISO 8601 or epoch seconds; default now"})


class SeriesRangeSchema(ma.Schema):
    start = QueryInstant(required=True, metadata={"type": "string", "description": "Inclusive; ISO 8601 or epoch seconds"})
    end = QueryInstant(metadata={"type": "string", "description": "Exclusive; ISO 8601 or epoch seconds; default now"})
    bucket = ma.fields.String(load_default="5m", validate=ma.validate.OneOf(tuple(SERIES_STEPS)))


class WindowSchema(ma.Schema):
    start = ma.fields.String(metadata={"description": "Inclusive"})
    end = ma.fields.String(metadata={"description": "Exclusive"})
    seconds = ma.fields.Integer()


def query_error(field: str, message: str):
    """Stop the request: 422 naming the query parameter at fault."""
    abort(422, message, errors={"query": {field: [message]}})


def trailing_window(window_seconds: int, end_us: int | None, now: int, retention: int) -> tuple[int, int]:
    """[start, end) of a trailing window, within 1 minute and ``retention`` (RETENTION, seconds)."""
    if not 60 <= window_seconds <= retention:
        query_error("window", f"A window lasts from 1 minute to the retention ({retention} s); got {window_seconds} s.")
    end = now if end_us is None else end_us
    start = end - window_seconds * 1_000_000
    if start < now - retention * 1_000_000:
        query_error("end", f"The window starts before the retained readings (the last {retention} s); move end later.")
    return start, end


def window_doc(start: int, end: int) -> dict:
    return {"start": timeutil.us_to_iso(start), "end": timeutil.us_to_iso(end), "seconds": (end - start) // 1_000_000}


def series_range(query: dict, retention: int) -> tuple[int, int, int]:
    """(start, end, step) in microseconds of a series query; 422 when the
    range is empty or longer than ``retention`` (RETENTION, seconds). A start
    before the retained readings moves to the oldest retained instant."""
    now = timeutil.now_us()
    end = query.get("end", now)
    start = query["start"]
    if end <= start:
        query_error("end", "end must come after start.")
    start = max(start, now - retention * 1_000_000)
    if end <= start:
        query_error("end", f"The range ends before the retained readings (the last {retention} s).")
    if end - start > retention * 1_000_000:
        query_error("start", f"A series spans at most the retention ({retention} s).")
    return start, end, SERIES_STEPS[query["bucket"]] * 1_000_000
