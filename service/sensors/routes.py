"""Sensor registry, trailing-window aggregates and series for charts."""

from __future__ import annotations

import orjson

from .. import exactsum, timeutil, units
from ..auth import assigned_org, claim_sensors, listing_org, principal, refuse_foreign_sensors, require_sensor, requires
from ..conditional import conditional_json
from ..errors import abort
from ..fields import checked_sensor_id, room_of_sensor
from ..history import query as history_query
from ..jsonio import Blueprint, json_response
from ..stores import stores
from ..timeutil import now_us
from ..windows import (
    MAX_SERIES_POINTS,
    MAX_SERIES_POINTS_MANY,
    UnitQuerySchema,
    answer_unit,
    query_error,
    query_range,
    trailing_window,
    window_doc,
)
from .schemas import (
    AggregateSchema,
    ListQuerySchema,
    SensorAggregateQuerySchema,
    SensorMetadataSchema,
    SensorPageSchema,
    SensorSchema,
    SeriesBatchQuerySchema,
    SeriesBatchSchema,
    SeriesQuerySchema,
    SeriesSchema,
)
from .store import KindHasReadings, MacInUse

blp = Blueprint(
    "sensors",
    __name__,
    # /v1, not /v1/sensors: GET /v1/series asks about many sensors at once,
    # and no path under /v1/sensors/ is safe from a sensor of that id.
    url_prefix="/v1",
    description="Sensor registry, exact trailing-window aggregates and downsampled series (issue 4).",
)


def registry():
    return stores().sensors


@blp.route("/sensors/<sensor_id>", methods=["PUT"])
@requires("admin")
@blp.arguments(SensorMetadataSchema)
@blp.response(200, SensorSchema, description="Updated; the sensor with its statistics.")
@blp.alt_response(201, schema=SensorSchema, description="Registered for the first time.")
@blp.alt_response(400, description="Not a valid sensor id; or the body empty, not JSON, or repeating a key")
@blp.alt_response(404, description="An org admin and another org's sensor, or a sensor of no org holding data")
@blp.alt_response(409, description=(
    "The MAC address belongs to another sensor (for an org key: one body whatever org holds it); the site is "
    "not a site of the sensor's org (one body whatever org holds it); or the kind would change while the sensor "
    "holds readings (clear them first)"))
@blp.alt_response(422, description="Invalid metadata; nothing written")
def put_sensor(data: dict, sensor_id: str):
    """Register a sensor or replace its metadata

    Fields left out or null are cleared; an empty object is refused (422).
    A ``unit`` without ``kind`` implies the kind. An existing ``site`` must
    be a site of the sensor's org (409). The kind of a sensor holding
    readings does not change (409: clear its statistics first).
    Readings sent without a unit are taken in the sensor's unit, else its
    org's, else the kind's default.
    """
    checked_sensor_id(sensor_id)
    # An org admin registers its own sensors (or unowned ones), for its own org.
    data["org"] = assigned_org(data)
    # A sensor of no org that holds data, or another org's, answers 404.
    unclaimed = refuse_foreign_sensors([sensor_id])
    _check_room_sensor(sensor_id, data)
    if data.get("site"):
        _check_site(data["site"], data["org"])
    if data.get("mac"):
        _check_mac(data["mac"], sensor_id)
    # Claimed (atomically with the check that it holds no data) before the
    # registry writes; a 409 on a MAC address in use claims nothing.
    claim_sensors(unclaimed)
    try:
        _, created = registry().put(sensor_id, data)
    except MacInUse as exc:
        _mac_in_use(exc.mac, exc.owner)
    except KindHasReadings as exc:
        abort(409, f"The sensor {sensor_id} holds readings of kind {exc.kind}, stored in its unit; changing its kind "
                   f"would read them as {data.get('kind') or 'of no kind'}. Clear its statistics first "
                   f"(DELETE /statistics/{sensor_id}) or register a new sensor id; nothing was written.")
    return registry().describe([sensor_id])[0], 201 if created else 200


def _check_room_sensor(sensor_id: str, data: dict) -> None:
    """422 when a room's own sensor id (``room.<org>.<building>.<room>``)
    would be of another org or placed in another room: the room's posts
    would then find their sensor taken for good."""
    room = room_of_sensor(sensor_id)
    if room is None:
        return
    org, building, place = room
    problems = {}
    if org is not None and data["org"] != org:
        problems["org"] = [f"{sensor_id} is the own sensor of a room of org {org!r}: its org is {org!r}."]
    # Left out or null: the sensor leaves its room (its next reading there brings it back).
    elsewhere = [field for field, own in (("building", building), ("room", place)) if (data.get(field) or own) != own]
    if elsewhere:
        problems[elsewhere[0]] = [
            f"{sensor_id} is the own sensor of building {building} room {place}: it belongs to no other room."]
    if problems:
        abort(422, "A room's own sensor stays its room's; nothing was written.", {"json": problems})


def _check_site(site_id: str, org: str | None) -> None:
    """409 when the site exists and is not a site of the sensor's org (a
    sensor would otherwise show another org's site, its too-hot status
    included). One body whatever org holds the site, naming only what the
    request sent, as for a site id taken. A site not created yet is fine
    (the overview, GET /sensors, shows a sensor nothing of a site of
    another org created later)."""
    site = stores().sites.get(site_id)
    if site is not None and site["org"] != org:
        of = f"of org {org!r}" if org else "of no org"
        abort(409, f"The site {site_id!r} is not a site {of}, the sensor's: a sensor's site must be a site of its "
                   "org; nothing was written.")


def _mac_in_use(mac: str, owner: str):
    """409 for a MAC address registered to another sensor: an all-orgs key
    learns which; an org key gets one body whatever org holds it."""
    if principal().all_orgs:
        abort(409, f"MAC address {mac} already belongs to sensor {owner}.")
    abort(409, f"MAC address {mac} is registered to another sensor; nothing was written.")


def _check_mac(mac: str, sensor_id: str) -> None:
    """409 when ``mac`` belongs to another sensor: registered to one, or, for
    an org key, the id of a sensor heard of by heartbeats that the key could
    not claim (another org's, or of no org and holding data)."""
    owner = registry().mac_owner(mac)
    if owner and owner != sensor_id:
        _mac_in_use(mac, owner)
    who = principal()
    if not who.all_orgs and mac != sensor_id:
        if stores().sensor_orgs.claim([mac], who.org, check_only=True)[0] != who.org:
            _mac_in_use(mac, mac)


@blp.route("/sensors/<sensor_id>", methods=["GET"])
@requires("read")
@blp.arguments(UnitQuerySchema, location="query")
@blp.response(200, SensorSchema)
@blp.alt_response(400, description="Not a valid sensor id")
@blp.alt_response(404, description="Neither registered nor ever heard of")
@blp.alt_response(422, description="A unit not of the sensor's kind, or any unit for a sensor of no kind")
def get_sensor(query: dict, sensor_id: str):
    """A sensor's metadata, statistics and last-seen time"""
    checked_sensor_id(sensor_id)
    require_sensor(sensor_id, f"No sensor {sensor_id}: never registered, no reading received.")
    unit = query.get("unit")
    kind = registry().kind(sensor_id) if unit else None
    found = registry().describe([sensor_id], display_unit=answer_unit(kind, unit) if kind else None)[0]
    if found is None:
        abort(404, f"No sensor {sensor_id}: never registered, no reading received.")
    if unit and kind is None:
        answer_unit(None, unit)  # 422 once the sensor is known: no unit applies to one of no kind
    return found


@blp.route("/sensors", methods=["GET"])
@requires("read")
@blp.arguments(ListQuerySchema, location="query")
@blp.response(200, SensorPageSchema)
def list_sensors(query: dict):
    """List sensors in id order, filtered by org, site, building, room, kind

    Without filters every sensor is listed, registered or only known from its
    readings (those have ``registered: false``). Pages follow ``next_cursor``.
    """
    filters = {field: query[field] for field in ("org", "site", "building", "room", "kind") if field in query}
    org = listing_org(filters.pop("org", None))
    if org is not None:
        filters["org"] = org
    page, next_cursor = registry().list_page(filters, query.get("cursor"), query["limit"])
    return {"sensors": page, "next_cursor": next_cursor}


@blp.route("/sensors/<sensor_id>/aggregate", methods=["GET"])
@requires("read")
@blp.arguments(SensorAggregateQuerySchema, location="query")
@blp.response(200, AggregateSchema, description="count, avg, min, max of the readings in [start, end)")
@blp.alt_response(400, description="Not a valid sensor id")
@blp.alt_response(404, description="Neither registered nor ever heard of")
@blp.alt_response(422, description=(
    "Window outside 1 minute..RETENTION, or reaching before the retained readings; window and start both given; "
    "end not after start; a start before the longest history tier; a unit not of the sensor's kind (any unit for a "
    "sensor of no kind)"))
def aggregate(query: dict, sensor_id: str):
    """Exact aggregate of a sensor's readings over a trailing window or any range

    With ``window`` (default 15m): [end - window, end), end defaulting to
    now, from the raw readings. With ``start`` instead: [start, end) anywhere
    within the longest history tier, joined from the raw readings (the last
    RETENTION) and the history tiers, each reading counted once; ``sources``
    says which part came from where. An empty range answers ``count: 0`` and
    nulls.
    """
    checked_sensor_id(sensor_id)
    require_sensor(sensor_id, f"No sensor {sensor_id}: never registered, no reading received.")
    now = now_us()
    retention = stores().settings.retention
    if "start" in query:
        start, end = query_range(query, now)
        parts = answerable(history_query.Whole(), start, end, now)
        found = registry().series_parts([sensor_id], parts, stores().history)[0]
        known, kind = found.known, found.kind
        count, total, low, high = history_query.total(found.points)
    else:
        start, end = trailing_window(query.get("window", 900), query.get("end"), now, retention)
        parts = [history_query.Part("raw", None, start, end, 0)]
        window = registry().windows([sensor_id], start, end)[1][0]
        known, kind = window["known"], window["kind"]
        count, total, low, high = window["count"], window["sum"], window["min"], window["max"]
    if not known:
        abort(404, f"No sensor {sensor_id}: never registered, no reading received.")
    unit = answer_unit(kind, query.get("unit"))
    return {
        "sensor": sensor_id,
        "window": window_doc(start, end),
        "unit": unit,
        "count": count,
        "avg": units.shown(exactsum.mean(total, count), unit),
        "min": units.shown(low, unit),
        "max": units.shown(high, unit),
        "sources": history_query.sources(parts),
    }


def answerable(out, start: int, end: int, now: int) -> list:
    """The parts to read for [start, end) in ``out``'s buckets; 422 naming
    the parameter when the history cannot answer them."""
    try:
        return history_query.parts(stores().history, out, start, end, now, stores().settings.retention)
    except history_query.Unanswerable as exc:
        query_error(exc.field, str(exc))


def series_plan(query: dict, sensors: int, limit: int) -> tuple:
    """(start, end, output buckets, parts) of a series query over
    ``sensors`` sensors; 422 beyond MAX_SERIES_POINTS buckets per sensor or
    ``limit`` in all."""
    now = now_us()
    start, end = query_range(query, now)
    out = history_query.grid(query["bucket"], query["tz"])
    buckets = out.count(start, end)
    if buckets > MAX_SERIES_POINTS:
        query_error("bucket", f"At most {MAX_SERIES_POINTS} buckets per sensor; this range holds {buckets}: "
                              "ask for a coarser bucket or a shorter range.")
    if buckets * sensors > limit:
        query_error("bucket", f"At most {limit} buckets in all; this range holds {buckets} for each of {sensors} "
                              "sensors: ask for a coarser bucket, a shorter range or fewer sensors.")
    return start, end, out, answerable(out, start, end, now)


@blp.route("/sensors/<sensor_id>/series", methods=["GET"])
@requires("read")
@blp.arguments(SeriesQuerySchema, location="query")
@blp.response(200, SeriesSchema, description="Per-bucket count, avg, min, max; empty buckets omitted")
@blp.alt_response(400, description="Not a valid sensor id")
@blp.alt_response(404, description="Neither registered nor ever heard of")
@blp.alt_response(422, description=(
    f"start not before end; a start before the longest history tier; more than {MAX_SERIES_POINTS} buckets; "
    "a bucket (or tz) the history tiers cannot follow where the range is older than the raw readings; "
    "a unit not of the sensor's kind (any unit for a sensor of no kind)"))
def series(query: dict, sensor_id: str):
    """Downsampled series of a sensor's readings for charts, over any range

    Buckets of 1m to 1h are aligned on their size in UTC; 1d, 1w (ISO weeks,
    from Monday) and 1mo (calendar months) start at midnight in ``tz``
    (default UTC). The last RETENTION comes from the raw readings, older
    parts from the history tiers (whole tier buckets; a daily series in UTC
    reads the daily tier wherever it can), joined without a gap or an
    overlap; ``sources`` says which part came from where.
    """
    checked_sensor_id(sensor_id)
    require_sensor(sensor_id, f"No sensor {sensor_id}: never registered, no reading received.")
    start, end, out, parts = series_plan(query, 1, MAX_SERIES_POINTS)
    rendered = tuple(part for part in parts if history_query.renders(out, part))
    found = registry().series_parts([sensor_id], parts, stores().history, rendered)[0]
    if not found.known:
        abort(404, f"No sensor {sensor_id}: never registered, no reading received.")
    unit = answer_unit(found.kind, query.get("unit"))
    # Serialised directly, not dumped through marshmallow: a year of hourly
    # points is 8,760 objects, most spliced in pre-rendered (a test holds
    # the answer to SeriesSchema).
    return json_response({"sensor": sensor_id, "window": window_doc(start, end), "bucket": query["bucket"],
                          "tz": query["tz"], "unit": unit,
                          "points": series_points(out, sensor_id, found, unit),
                          "sources": history_query.sources(parts)})


@blp.route("/series", methods=["GET"])
@requires("read")
@blp.arguments(SeriesBatchQuerySchema, location="query")
@blp.response(200, SeriesBatchSchema, description="Each known sensor's series in the order asked; the others listed as unknown")
@blp.alt_response(422, description=(
    f"No sensors, an invalid id, more than 100 sensors, more than {MAX_SERIES_POINTS_MANY} buckets in all, "
    "or a range the series of one sensor refuses"))
def series_of_many(query: dict):
    """Downsampled series of many sensors at once (dashboards)

    As ``GET /v1/sensors/<id>/series`` for each sensor of ``sensors``, in one
    request and one Redis round trip (two when the range reaches the history
    tiers: their keys hold each sensor's clear generation), each in the
    sensor's own unit (as ``GET /sensors`` shows its last reading: its
    declared unit, else the one its readings arrive in, else its kind's
    canonical unit), or with ``unit`` in that unit where it is of the sensor's
    kind (``F``: every thermometer in °F). A sensor never registered nor heard of, or not of the
    API key's org, is listed in ``unknown`` (no hint which). The answer has a
    strong ``ETag`` of its content; ``If-None-Match`` holding it gets a 304.
    """
    start, end, out, parts = series_plan(query, len(query["sensors"]), MAX_SERIES_POINTS_MANY)
    asked = query.get("unit")
    who = principal()
    series, unknown = [], []
    # The script reads each sensor's org with its series: another org's
    # sensor is dropped here, as one never heard of.
    rendered = tuple(part for part in parts if history_query.renders(out, part))
    found_all = registry().series_parts(query["sensors"], parts, stores().history, rendered)
    for sensor_id, found in zip(query["sensors"], found_all, strict=True):
        if found.known and who.can_access_org(found.org):
            unit = asked if asked and units.KIND_OF_UNIT.get(asked) == found.kind else found.unit
            points = series_points(out, sensor_id, found, unit)
            series.append({"sensor": sensor_id, "unit": unit, "points": points})
        else:
            unknown.append(sensor_id)
    # Serialised directly, as one sensor's series (a test holds it to SeriesBatchSchema);
    # conditional: a dashboard asking again for a fixed window gets a 304 until a reading lands in it.
    return conditional_json({"window": window_doc(start, end), "bucket": query["bucket"], "tz": query["tz"],
                             "series": series, "unknown": unknown, "sources": history_query.sources(parts)})


def series_points(out, sensor_id: str, found, unit: str | None) -> list:
    """A series' points in ``unit``: the raw steps and tier buckets read,
    merged into output buckets; the parts read as chunk versions from
    their rendered copies (orjson fragments, rendered here when missing)."""

    def point(at: int, count: int, total, low: float, high: float) -> dict:
        return {
            "t": timeutil.us_to_iso(at),
            "count": count,
            "avg": units.shown(exactsum.mean(total, count), unit),
            "min": units.shown(low, unit),
            "max": units.shown(high, unit),
        }

    def rendered(at: int, count: int, total, low: float, high: float) -> bytes:
        return orjson.dumps(point(at, count, total, low, high))

    history = stores().history
    parts = [(part, history.rendered_points(sensor_id, found.gen, part.tier, part.start_us, part.end_us, versions,
                                            unit, rendered))
             for part, versions in (found.versions or {}).items()]
    return history_query.spliced(history_query.merge(out, found.points), parts, point)
