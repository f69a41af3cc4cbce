"""Windows of time a query asks about: trailing windows and bucketed ranges.

A trailing window is [end - window, end), end defaulting to now; it lasts
from 1 minute to the retention and may not reach before the retained
readings. A sensor's aggregate and a room's average are asked and answered
the same way. A series covers [start, end) in buckets of SERIES_BUCKETS:
1m to 1h aligned on their size in UTC; 1d, 1w (ISO weeks, from Monday)
and 1mo (calendar months) on midnight in the query's time zone (UTC by
default). A range or aggregate older than the raw readings is answered from
the history tiers (service/history/query.py joins them).
"""

from __future__ import annotations

import re

import marshmallow as ma

from . import timeutil, units
from .errors import abort
from .fields import QueryInstant, TimeZoneName, unit_field

_WINDOW = re.compile(r"([1-9][0-9]{0,8})([smhd])").fullmatch
_WINDOW_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MSG_WINDOW = "A duration such as 90s, 15m, 2h or 1d."
# Bucket sizes of a series, in seconds; None: calendar months.
SERIES_BUCKETS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400, "1w": 7 * 86400, "1mo": None}
# Buckets of one sensor's series, and of all sensors of one GET /v1/series.
MAX_SERIES_POINTS = 10_000
MAX_SERIES_POINTS_MANY = 100_000
MSG_HISTORY = (
    "Older than RETENTION, readings are answered from the history tiers (ROLLUPS), in whole tier buckets: "
    "a tier bucket counts when it starts in the range; the answer's sources say which part came from where."
)


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
    unit = unit_field(metadata={
        "description": "Show the answer's values in this unit, one of the sensor's kind (default: the kind's canonical "
        "unit); another kind's unit is 422, and so is any unit for a sensor of no kind (its values are kept as sent)"})


class AggregateQuerySchema(UnitQuerySchema):
    window = Duration(load_default=900, metadata={"type": "string", "example": "15m", "description": "1m up to RETENTION; default 15m"})
    end = QueryInstant(metadata={"type": "string", "description": "Window end (exclusive): ISO 8601 or epoch seconds; default now"})


class SeriesRangeSchema(ma.Schema):
    start = QueryInstant(required=True, metadata={
        "type": "string", "description": "Inclusive; ISO 8601 or epoch seconds; within the longest history tier. " + MSG_HISTORY,
    })
    end = QueryInstant(metadata={"type": "string", "description": "Exclusive; ISO 8601 or epoch seconds; default now"})
    bucket = ma.fields.String(load_default="5m", validate=ma.validate.OneOf(tuple(SERIES_BUCKETS)), metadata={
        "description": "1m, 5m, 15m, 1h: aligned on their size in UTC (whatever tz); 1d, 1w (ISO weeks from Monday), "
        "1mo (calendar months): from midnight in tz. 1m to 15m only within RETENTION (finer than the finest tier); "
        f"at most {MAX_SERIES_POINTS} buckets per sensor ({MAX_SERIES_POINTS_MANY} in GET /v1/series)",
    })
    tz = TimeZoneName(load_default="UTC", metadata={
        "description": "IANA time zone whose local midnight starts 1d, 1w and 1mo buckets; default UTC. Older than the "
        "hourly tier only UTC can be answered (the daily tier's days are UTC days); in a zone with a :30 or :45 offset "
        "the hourly tier's hours are counted whole in the local bucket holding their start (that source says aligned)",
    })


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


def query_range(query: dict, now: int) -> tuple[int, int]:
    """[start, end) in microseconds of a series or range query (end
    defaulting to now); 422 naming end when the range is empty."""
    end = query.get("end", now)
    if end <= query["start"]:
        query_error("end", "end must come after start.")
    return query["start"], end


def answer_unit(kind: str | None, requested: str | None) -> str | None:
    """Unit of an answer about one sensor of ``kind``: the requested one,
    else the kind's canonical unit (None for a sensor of no kind: values as
    stored). 422 naming ``unit`` if the requested one is not of the
    sensor's kind, a sensor of no kind included (``units.shown_unit_problem``).
    Answers about many sensors instead show each sensor the unit does not
    apply to in its own unit."""
    if requested:
        problem = units.shown_unit_problem(requested, kind)
        if problem:
            query_error("unit", problem)
    return units.display_unit(kind, requested)
