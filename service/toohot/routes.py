"""Too hot or not: thermometer readings of sites and the admin answer."""

from __future__ import annotations

import marshmallow as ma
from flask import request

from .. import timeutil, units
from ..auth import claim_sensors, principal, refuse_foreign_sensors, require_org, requires, sites_of_taken_sensors
from ..errors import abort, invalid_request_message
from ..fields import IngestQuerySchema
from ..jsonio import Blueprint, direct_view, json_body, json_response, query_arguments
from ..metrics import count_readings, refused_readings
from ..stores import stores
from .schemas import AnswerQuerySchema, AnswerSchema, TemperatureIngestResultSchema, TemperatureSchema
from .store import Rejected
from .validation import parse_answer_query

blp = Blueprint(
    "toohot",
    __name__,
    description="Too hot or not: thermometer readings of offices, and whether a site was too hot on a day.",
)

_TEMPERATURE_BODY = {
    "required": True,
    "description": (
        "One reading or an array of them. A reading already known (same sensor, same instant) is a "
        "duplicate: ignored, the value stored first counts (statistics and too-hot answer alike). A site seen for the first time is registered under the reading's org; "
        "a site of another org rejects the whole post with 409, any invalid item with 422 (every "
        "problem listed by item index and field); then nothing is written."
    ),
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Temperature"},
                    {"type": "array", "maxItems": 10000, "items": {"$ref": "#/components/schemas/Temperature"}},
                ]
            }
        }
    },
}

# One schema per ?precision=, built once.
_SCHEMAS = {precision: TemperatureSchema(precision=precision) for precision in timeutil.EPOCH_PRECISIONS}
_INGEST_QUERY = IngestQuerySchema()
_NO_QUERY = {"precision": "s"}


def _store():
    return stores().toohot


def _load(payload, precision: str) -> tuple[list[tuple[int, dict]], dict]:
    """(the valid items with their index, schema problems by index);
    timestamps are numbers in ``precision`` units."""
    single = type(payload) is dict
    if not single and type(payload) is not list:
        abort(400, "The body must be a reading object or a JSON array of them.")
    items = [payload] if single else payload
    max_batch = stores().settings.max_batch
    if len(items) > max_batch:
        abort(413, f"A post holds at most {max_batch} readings (MAX_BATCH); this one has {len(items)}. Split it.")
    loaded, errors = [], {}
    schema = _SCHEMAS[precision]
    tolerance = stores().settings.future_tolerance
    latest = timeutil.future_horizon_us(tolerance)  # once per post
    for index, item in enumerate(items):
        try:
            reading = schema.load(item)
        except ma.ValidationError as exc:
            errors[index] = exc.messages
            continue
        if reading["timestamp"] > latest:
            errors[index] = {"timestamp": [timeutil.future_message(reading["timestamp"], latest, tolerance)]}
            continue
        loaded.append((index, reading))
    return loaded, errors


@blp.route("/v1/temperatures", methods=["POST"])
@requires("ingest")
@direct_view
@blp.arguments(IngestQuerySchema, location="query")
@blp.doc(requestBody=_TEMPERATURE_BODY)
@blp.response(200, TemperatureIngestResultSchema, description="Stored; counts of new and duplicate readings.")
@blp.alt_response(400, description="Not JSON, or neither an object nor an array")
@blp.alt_response(404, description="A reading names an org or a sensor the API key may not reach; nothing written")
@blp.alt_response(409, description=(
    "A reading names a site of another org (or of none), or a new site whose id is a sensor its org cannot have; "
    "nothing written"))
@blp.alt_response(413, description="Body over MAX_BODY_BYTES or more than MAX_BATCH readings")
@blp.alt_response(415, description="Body not sent as application/json")
@blp.alt_response(422, description="Invalid readings, listed by item index and field, or an unknown precision; "
                                   "nothing written")
@blp.alt_response(503, description="Redis not answering; nothing acknowledged, retry")
def post_temperatures():
    """Ingest thermometer readings (one or many)

    Units: the reading's ``unit``, else its registered sensor's, else its
    org's (``PUT /v1/orgs/<org>``), else C; stored in degrees Celsius, also
    in the readings store (``/statistics/<sensor>``, windows, series).
    """
    payload = json_body()
    with refused_readings(len(payload) if type(payload) is list else 1):
        precision = query_arguments(_INGEST_QUERY, _NO_QUERY)["precision"]
        loaded, errors = _load(payload, precision)
        items = [item for _, item in loaded]
        who = principal()
        if not who.all_orgs:
            for org in sorted({item["orgId"] for item in items} - {who.org}):
                require_org(org, f"No org {org!r} for this API key; nothing was written.")
        resolution = _store().resolve(items)
        # A site seen for the first time whose id is a sensor its org cannot
        # have would answer its readings without sensorId 404 for good.
        _store().refuse_sites(items, resolution, set(sites_of_taken_sensors(resolution.first_org)))
        try:
            # Sites not of the readings' org first: one 409 body whatever org
            # holds the site, and nothing of the sensors of its id.
            _store().refuse_conflicts(items, resolution, [index for index, _ in loaded], len(loaded) + len(errors))
        except Rejected as exc:
            abort(exc.status, exc.message, exc.errors)
        # Another org's sensor answers 404 before any problem its kind or
        # unit would show; sensors of no org are claimed only once the
        # readings were found valid.
        unclaimed = refuse_foreign_sensors(resolution.sensor_orgs.keys(), orgs=resolution.sensor_orgs)
        # Schema problems and the problems only the lookups reveal (a value
        # below absolute zero in the org's unit...), listed together so one
        # fix suffices.
        total = len(loaded) + len(errors)
        for position, problem in resolution.invalid.items():
            errors[loaded[int(position)][0]] = problem
        if errors:
            listed = {str(index): errors[index] for index in sorted(errors)}
            abort(422, f"{len(errors)} of {total} readings are invalid; nothing was written.",
                  {"json": listed["0"] if type(payload) is dict else listed})
        # Claimed before anything is written, atomically with the check
        # that they hold no data (service.auth.sensors).
        claim_sensors(unclaimed)
        try:
            result = _store().ingest(items, resolution)
        except Rejected as exc:
            abort(exc.status, exc.message, exc.errors)
    count_readings("accepted", result["accepted"])
    count_readings("duplicate", result["duplicates"])
    return json_response(result)


@blp.route("/v1/admin/toohotornot", methods=["GET"])
@requires("read")
@direct_view
# The query is parsed by parse_answer_query (held to the schema by tests);
# the schema documents it.
@blp.doc(parameters=[{"in": "query", "schema": AnswerQuerySchema}])
@blp.response(200, AnswerSchema, description="The site's day: too hot or not, and how bad it was")
@blp.alt_response(404, description="No site has this id")
@blp.alt_response(422, description="Invalid query, or a date outside retention")
@blp.alt_response(503, description="Redis not answering; retry")
def too_hot_or_not():
    """Has the site been too hot today (its local day)?

    ``tooHot`` is true when a reading of the day was above the threshold
    (the site's, else its org's, else 25 °C, as it is now: a changed
    threshold applies to the next answer). ``minutesAbove`` counts the
    minutes with such a reading. Temperatures are in ``unit`` (default: the
    org's unit).
    """
    query, errors = parse_answer_query(request.args)
    if errors:
        abort(422, invalid_request_message(), {"query": errors})
    site_id = query["siteId"]
    found = _store().answer(site_id, query.get("date"))
    if found is None:
        abort(404, f"No site has the id {site_id!r}.")
    require_org(found["org"], f"No site has the id {site_id!r}.")
    day = found["date"]
    if not found["in_retention"]:
        abort(422, f"{day.isoformat()} is not a day within retention "
              f"(today in {found['timezone']} and the {_store().retention_days} days before).",
              {"query": {"date": ["Outside retention (TOOHOT_RETENTION_DAYS) or in the future."]}})
    threshold, max_value = found["threshold"], found["max"]
    unit = query.get("unit") or found["unit"]
    return json_response({
        "siteId": site_id,
        "orgId": found["org"],
        "tooHot": max_value is not None and max_value > threshold,
        "date": day.isoformat(),
        "timezone": found["timezone"],
        "threshold": units.shown(threshold, unit),
        "maxTemperature": units.shown(max_value, unit),
        "maxAt": found["max_at"],
        "minutesAbove": found["minutes_above"],
        "readings": found["readings"],
        "unit": unit,
    })
