"""Rooms: temperatures of a building's rooms and their 15-minute average."""

from __future__ import annotations

import marshmallow as ma

from .. import units
from ..auth import claim_sensors, listing_org, principal, refuse_foreign_sensors, requires, sensor_orgs
from ..errors import abort
from ..fields import MSG_PLACE_ID, IngestQuerySchema, is_place_id
from ..jsonio import Blueprint, json_body
from ..metrics import count_expired_readings, count_readings, refused_readings
from ..stores import stores
from ..timeutil import now_us
from ..windows import trailing_window, window_doc
from .schemas import RoomAverageQuerySchema, RoomAverageSchema, RoomIngestResultSchema, RoomReadingSchema
from .store import BatchError, RoomConflict, default_sensor

blp = Blueprint(
    "rooms",
    __name__,
    url_prefix="/v1/buildings",
    description="Rooms: temperatures of a building's rooms and their trailing average.",
)

_BODY = {
    "required": True,
    "description": "One reading or an array of readings. Any invalid reading rejects the whole body (422), nothing written.",
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/RoomReading"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/RoomReading"}},
                ]
            }
        }
    },
}


def rooms():
    return stores().rooms


def checked_place(building: str, room: str) -> None:
    if not is_place_id(building) or not is_place_id(room):
        abort(400, f"Invalid building or room id: {MSG_PLACE_ID}.")


@blp.route("/<building>/rooms/<room>/temperatures", methods=["POST"])
@requires("ingest")
@blp.arguments(IngestQuerySchema, location="query")
@blp.doc(requestBody=_BODY)
@blp.response(200, RoomIngestResultSchema)
@blp.alt_response(400, description="Not JSON, or an invalid building or room id")
@blp.alt_response(409, description="A sensor belongs to another room or measures something else; nothing written")
@blp.alt_response(413, description="Body over MAX_BODY_BYTES or more than MAX_BATCH readings")
@blp.alt_response(415, description="Body not sent as application/json")
@blp.alt_response(422, description="Invalid readings (by index and field), e.g. below absolute zero, "
                                   "the own sensor of another room, or an unknown precision; nothing written")
def post_temperatures(query: dict, building: str, room: str):
    """Record temperatures of a room

    Without ``sensor``, a reading goes to the room's own sensor
    ``room.<building>.<room>`` (``room.<org>.<building>.<room>`` for an
    org key). Each sensor is registered in the room. Rooms are per org: an
    org key posts to its org's room, an all-orgs key to the room of no org.
    A room's own sensor id is its room's: another room's is refused (422),
    another org's answers 404 (service.auth.sensors).
    """
    checked_place(building, room)
    org = principal().org_filter
    payload = json_body()
    single = isinstance(payload, dict)
    items = [payload] if single else payload
    settings = stores().settings
    with refused_readings(len(items) if isinstance(items, list) else 1):
        if not isinstance(items, list):
            abort(400, "The body must be a reading or a JSON array of readings.")
        if len(items) > settings.max_batch:
            abort(413, f"At most {settings.max_batch} readings per request; this one has {len(items)}.")
        if not items:
            return {"accepted": 0, "duplicates": 0, "sensors": []}
        try:
            readings = RoomReadingSchema(many=True, assume_tz=settings.assume_tz, precision=query["precision"],
                                         future_tolerance=settings.future_tolerance,
                                         building=building, room=room).load(items)
        except ma.ValidationError as exc:
            errors = exc.messages.get(0, exc.messages) if single else exc.messages
            abort(422, "Invalid readings; nothing was written.", errors={"json": errors})
        # Another org's sensor answers 404 before the room's checks read it;
        # sensors of no org are claimed only once the readings were valid.
        unclaimed = refuse_foreign_sensors({reading.get("sensor") or default_sensor(building, room, org) for reading in readings})
        # Claimed before the room registers them, atomically with the check
        # that they hold no data (service.auth.sensors).
        claim_sensors(unclaimed)
        try:
            result = rooms().post(building, room, readings, org=org)
        except RoomConflict as exc:
            abort(409, str(exc))
        except BatchError as exc:
            errors = exc.errors["json"].get("0", exc.errors["json"]) if single else exc.errors["json"]
            abort(exc.status, exc.message, errors={"json": errors})
    count_readings("accepted", result["accepted"])
    count_readings("duplicate", result["duplicates"])
    count_expired_readings(result.get("expired", 0))
    return result


@blp.route("/<building>/rooms/<room>/average", methods=["GET"])
@requires("read")
@blp.arguments(RoomAverageQuerySchema, location="query")
@blp.response(200, RoomAverageSchema)
@blp.alt_response(400, description="Invalid building or room id")
@blp.alt_response(404, description="An org key asked for another org")
@blp.alt_response(422, description="Window outside 1 minute..RETENTION, or reaching before the retained readings")
def room_average(query: dict, building: str, room: str):
    """Average temperature of a room over a trailing window (default 15m)

    Every reading of every sensor of the room in [end - window, end) counts
    once; an empty window answers ``avg: null, count: 0``. Rooms are per
    org (``org``): an org key reads its org's room only.
    """
    checked_place(building, room)
    start, end = trailing_window(query["window"], query.get("end"), now_us(), stores().settings.retention)
    org = listing_org(query.get("org"))
    found = rooms().average(building, room, start, end, org=org)
    # The room's index holds its org's sensors only; checked again so an
    # entry left by a racing move never shows.
    who = principal()
    if not who.all_orgs and any(owner != who.org for owner in sensor_orgs(found["sensors"])):
        abort(404, f"No room {room} in building {building} for this API key.")
    unit = query.get("unit") or "C"
    avg = found["avg"]
    return {
        "building": building,
        "room": room,
        "window": window_doc(start, end),
        "unit": unit,
        "avg": units.shown(avg, unit),
        "count": found["count"],
        "sensors": found["sensors"],
    }
