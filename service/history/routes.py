"""Export of history: one sensor's, or many sensors' in one download.

Everything that can refuse a request (its parameters, the range, the
sensors) is checked before the first byte is sent: once a stream has
started, its status cannot change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import Response, stream_with_context

from .. import keys, timeutil
from ..auth import listing_org, principal, require_sensor, requires
from ..errors import abort
from ..fields import checked_sensor_id
from ..jsonio import Blueprint
from ..stores import stores
from ..windows import answer_unit, query_error
from .export import FORMATS, facts_in_batches, sensor_facts, sensor_rows
from .schemas import MAX_EXPORT_SENSORS, ExportQuerySchema, ManyExportQuerySchema
from .store import RangeTooOld, Segment

blp = Blueprint(
    "history",
    __name__,
    # /v1: GET /v1/export covers many sensors, GET /v1/sensors/<id>/export one.
    url_prefix="/v1",
    description="History export: raw readings, then hourly and daily buckets beyond RETENTION, streamed.",
)

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
# Sensors named in a 404 message (a list may hold thousands).
_NAMED_IN_ERROR = 10

EXPORT_RESPONSE = {
    "description": "The rows, streamed: raw readings (source raw) then history buckets (source 1h, 1d), "
                   "each sensor's in time order",
    "content": {
        "text/csv; charset=utf-8": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


def not_found(sensor_id: str) -> str:
    return f"No sensor {sensor_id}: never registered, no reading received."


def export_plan(query: dict) -> tuple[int, int, list[Segment]]:
    """(start, end, segments) of an export's range; 422 when it is empty or
    reaches before the longest history tier keeps."""
    now = timeutil.now_us()
    start, end = query["start"], query.get("end", now)
    if end <= start:
        query_error("end", "end must come after start.")
    try:
        segments = stores().history.plan(start, end, now, stores().settings.retention)
    except RangeTooOld as exc:
        query_error("start", f"The history reaches back to {timeutil.us_to_iso(exc.args[0])}; move start later.")
    return start, end, segments


def _compact(us: int) -> str:
    """An instant for a file name: 20240101T000000Z."""
    return timeutil.us_to_datetime(us).strftime("%Y%m%dT%H%M%SZ")


def download(rows: Iterator[dict], form: str, name: str, start: int, end: int) -> Response:
    """The streamed response of ``rows`` in ``form`` (csv, ndjson)."""
    mimetype, body = FORMATS[form]
    filename = _UNSAFE_IN_FILENAME.sub("_", f"{name}-{_compact(start)}-{_compact(end)}") + "." + form
    response = Response(stream_with_context(body(rows)), content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/sensors/<sensor_id>/export", methods=["GET"])
@requires("read")
@blp.arguments(ExportQuerySchema, location="query")
@blp.doc(responses={"200": EXPORT_RESPONSE})
@blp.alt_response(400, description="Not a valid sensor id")
@blp.alt_response(404, description="Neither registered nor ever heard of (or of another org than the API key's)")
@blp.alt_response(422, description=(
    "Unknown format or unit, a unit not of the sensor's kind (any unit for a sensor of no kind), end not after start, "
    "or a start older than the history"))
def export_sensor(query: dict, sensor_id: str):
    """Download a sensor's history (CSV or NDJSON)

    One row per raw reading where the raw readings are kept (RETENTION),
    one per history bucket beyond (hourly, then daily), in time order,
    streamed whatever the range.
    """
    checked_sensor_id(sensor_id)
    require_sensor(sensor_id, not_found(sensor_id))
    facts = sensor_facts(stores().client, [sensor_id])[0]
    if not facts.known:
        abort(404, not_found(sensor_id))
    start, end, segments = export_plan(query)
    unit = answer_unit(facts.kind, query.get("unit"))
    return download(sensor_rows(stores().history, facts, segments, unit), query["format"], sensor_id, start, end)


@blp.route("/export", methods=["GET"])
@requires("read")
@blp.arguments(ManyExportQuerySchema, location="query")
@blp.doc(responses={"200": EXPORT_RESPONSE})
@blp.alt_response(404, description="An org of another org's API key, or listed sensors never heard of (or of another org)")
@blp.alt_response(422, description="Not exactly one of org, site, sensors; more than 10,000 sensors; or an invalid range")
def export_many(query: dict):
    """Download the history of many sensors in one file (CSV or NDJSON)

    The sensors of an org, of a site, or a list; in id order, each one's rows
    in time order (as the single-sensor export), each row naming its sensor
    and its unit (the sensor's own, as ``GET /v1/series``).
    """
    start, end, segments = export_plan(query)
    if "sensors" in query:
        sensor_ids, name = _listed(query["sensors"]), "sensors"
        keep = None
    else:
        field = "org" if "org" in query else "site"
        value = listing_org(query["org"]) if field == "org" else query["site"]
        sensor_ids, name = _indexed(field, value), f"{field}-{value}"
        keep = (field, value)
    history = stores().history
    who = principal()

    def rows() -> Iterator[dict]:
        for facts in facts_in_batches(history.client, sensor_ids):
            # Index sets may hold an entry left by a racing update, and a
            # site may hold other orgs' sensors: each sensor is checked.
            if (keep and getattr(facts, keep[0]) != keep[1]) or not who.can_access_org(facts.org):
                continue
            yield from sensor_rows(history, facts, segments, facts.own_unit)

    return download(rows(), query["format"], name, start, end)


def _listed(sensor_ids: list[str]) -> list[str]:
    """The listed sensors in id order; 404 naming those never heard of or
    beyond the API key's org (checked before the download starts)."""
    who = principal()
    missing = [facts.sensor for facts in facts_in_batches(stores().client, sensor_ids)
               if not facts.known or not who.can_access_org(facts.org)]
    if missing:
        named = ", ".join(missing[:_NAMED_IN_ERROR]) + (", ..." if len(missing) > _NAMED_IN_ERROR else "")
        abort(404, f"{len(missing)} sensor(s) not found for this API key: {named}. Nothing was exported.")
    return sorted(sensor_ids)


def _indexed(field: str, value: str) -> list[str]:
    """Ids in the registry's index set of ``field`` = ``value``, in id order;
    422 beyond MAX_EXPORT_SENSORS."""
    key = keys.sensors_by(field, value)
    size = stores().client.scard(key)
    if size > MAX_EXPORT_SENSORS:
        query_error(field, f"{field} {value} has {size} sensors; an export covers at most {MAX_EXPORT_SENSORS}: "
                           "list them in parts with sensors=.")
    return sorted(member.decode() for member in stores().client.smembers(key))
