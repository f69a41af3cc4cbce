"""Batch ingest and statistics: POST /data, GET and DELETE /statistics/<sensor>."""

from __future__ import annotations

from functools import partial

from flask import request

from ..auth import require_sensor, requires
from ..errors import abort
from ..fields import IngestQuerySchema, checked_sensor_id
from ..jsonio import Blueprint, direct_view, json_response, read_json, reject_duplicate_keys
from ..metrics import refused_readings
from ..stores import stores
from ..transport import let_others_run
from .intake import admit
from .schemas import IngestResultSchema, StatisticsSchema
from .validation import BatchError, parse_batch

blp = Blueprint(
    "readings",
    __name__,
    description="Batch ingest of sensor readings and exact per-sensor statistics.",
)

_BATCH_BODY = {
    "required": True,
    "description": (
        "A JSON array of readings, many sensors per batch, or one reading object (a batch of one). "
        "A reading already known "
        "(same sensor, same instant in any offset) is a duplicate: ignored, the first value wins. "
        "Any invalid item rejects the whole batch with 422 and nothing is written."
    ),
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "array", "maxItems": 10000, "items": {"$ref": "#/components/schemas/Reading"}},
                    {"$ref": "#/components/schemas/Reading"},
                ]
            },
        }
    },
}


def _store():
    return stores().readings


_INGEST_QUERY = IngestQuerySchema()


def _precision() -> str:
    """``?precision=``, parsed as ``@blp.arguments`` would (422 naming it),
    without its per-request wrapper when there is no query at all."""
    if not request.args:
        return "s"
    return blp.ARGUMENTS_PARSER.parse(_INGEST_QUERY, location="query")["precision"]


def _reachable_sensor_id(sensor_id: str) -> str:
    """A valid sensor id the API key may reach (400, or 404 for another org's sensor)."""
    require_sensor(checked_sensor_id(sensor_id), f"No sensor {sensor_id} for this API key.")
    return sensor_id


@blp.route("/data", methods=["POST"])
@requires("ingest")
@direct_view
@blp.arguments(IngestQuerySchema, location="query")
@blp.doc(requestBody=_BATCH_BODY)
@blp.response(200, IngestResultSchema, description="The batch was stored; counts of new and duplicate readings.")
@blp.alt_response(400, description="Not JSON, neither an array nor a reading object, or an item repeating a key")
@blp.alt_response(413, description="Body over MAX_BODY_BYTES or more than MAX_BATCH readings")
@blp.alt_response(404, description="A sensor of the batch belongs to another org than the API key's; nothing written")
@blp.alt_response(415, description="Body not sent as application/json")
@blp.alt_response(422, description="Invalid readings, listed by item index and field, or an unknown precision; nothing written")
@blp.alt_response(503, description="Redis not answering; nothing acknowledged, retry")
def post_data():
    """Ingest a batch of readings"""
    with _store().batch_slot():
        return _ingest_batch()


def _ingest_batch():
    payload, raw = read_json()
    let_others_run()
    if type(payload) is dict:
        payload = [payload]  # a lone reading: a batch of one, answered as one
    settings = stores().settings
    with refused_readings(len(payload) if isinstance(payload, list) else 1):
        precision = _precision()
        try:
            groups, total = parse_batch(
                payload,
                max_batch=settings.max_batch,
                bucket_us=settings.bucket_seconds * 1_000_000,
                assume_tz=settings.assume_tz,
                precision=precision,
                future_tolerance=settings.future_tolerance,
            )
            accepted, expired = admit(_store(), groups, total, payload, assume_tz=settings.assume_tz,
                                      before_claims=partial(_reject_repeated_keys, raw, payload, groups, total))
        except BatchError as exc:
            abort(exc.status, exc.message, exc.errors)
    answer = {"accepted": accepted, "duplicates": total - accepted}
    # Stored, yet beyond every time query: said so, never plainly accepted
    # (present only when some are, so the usual answer is unchanged).
    if expired:
        answer["expired"] = expired
    return json_response(answer)


def _reject_repeated_keys(raw: bytes, payload: list, groups, total: int) -> None:
    """400 for a repeated JSON key, once the batch is known valid: then
    every item holds five strings (three keys, the sensor id, the timestamp
    unless a number), two more with a unit."""
    let_others_run()  # between checking the batch and writing it
    strings = 5 * total - groups.epoch_timestamps + 2 * sum("unit" in item for item in payload)
    reject_duplicate_keys(raw, strings)


@blp.route("/statistics/<sensor_id>", methods=["GET"])
@requires("read")
@direct_view
@blp.response(200, StatisticsSchema, description="Statistics over all distinct readings since the last clear.")
@blp.alt_response(400, description="Not a valid sensor id")
@blp.alt_response(404, description="An org-scoped API key and a sensor not of its org")
def get_statistics(sensor_id: str):
    """Statistics of one sensor

    A sensor never seen, or cleared, answers ``{"last_measurement": null, "count": 0, "avg": 0.0}``.
    """
    return json_response(_store().statistics(_reachable_sensor_id(sensor_id)))


@blp.route("/statistics/<sensor_id>", methods=["DELETE"])
@requires("admin")
@blp.response(204, description="Cleared; a reading posted again afterwards counts again.")
@blp.alt_response(400, description="Not a valid sensor id")
@blp.alt_response(404, description="An org-scoped API key and a sensor not of its org")
def delete_statistics(sensor_id: str):
    """Clear the statistics of one sensor (O(1))"""
    _store().clear(_reachable_sensor_id(sensor_id))
