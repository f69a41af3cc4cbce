"""InfluxDB line protocol writes: POST /api/v2/write and POST /write (v1).

Both take the same body and the way of ``POST /data`` into the readings
store (``readings.intake.admit``: org scope before the units pass, claims
after it, one ingest, its counts); only the parsing differs (``parsing.py``)
and the answer: 204 No Content, as InfluxDB answers, a unit its sensor
refuses named by its line.
"""

from __future__ import annotations

import marshmallow as ma
from flask import Response, request

from .. import timeutil
from ..auth import requires
from ..errors import abort
from ..jsonio import Blueprint, direct_view
from ..metrics import refused_readings
from ..readings.intake import admit
from ..readings.validation import BatchError
from ..stores import stores
from ..transport import let_others_run
from .parsing import LineError, SensorItems, parse_lines, sensor_unit_errors
from .schemas import WriteV1QuerySchema, WriteV2QuerySchema

blp = Blueprint(
    "lineproto",
    __name__,
    description="InfluxDB line protocol writes (Telegraf, influx clients): each numeric field is one reading.",
)

_LINES_BODY = {
    "required": True,
    "description": (
        "InfluxDB line protocol, one point a line, e.g. `temp,sensor=t-1,unit=C value=21.5 1714521600000000000`. "
        "Each numeric field is one reading (mapping: docs/protocols.md); gzip or deflate with Content-Encoding. "
        "Any bad line rejects the whole write with 400 naming the line, and nothing is written."
    ),
    "content": {"text/plain": {"schema": {"type": "string"}}},
}
_V2_ARGS = WriteV2QuerySchema()
_V1_ARGS = WriteV1QuerySchema()


def _write(arguments: ma.Schema) -> Response:
    try:
        precision = arguments.load(request.args)["precision"]
    except ma.ValidationError as exc:
        with refused_readings(1):  # as many as POST /data counts for a body it cannot read
            abort(400, "Invalid query arguments; nothing was written.", {"query": exc.messages})
    settings = stores().settings
    let_others_run()
    try:
        batch = parse_lines(
            request.get_data(cache=False),
            precision=precision,
            now_us=timeutil.now_us(),
            max_batch=settings.max_batch,
            bucket_us=settings.bucket_seconds * 1_000_000,
            future_tolerance=settings.future_tolerance,
        )
    except LineError as exc:
        with refused_readings(exc.readings):
            abort(exc.status, exc.message, exc.errors)
    except BatchError as exc:
        with refused_readings(1):
            abort(exc.status, exc.message, exc.errors)
    let_others_run()  # between checking the batch and writing it
    with refused_readings(batch.total):
        try:
            admit(stores().readings, batch.groups, batch.total, SensorItems(batch))
        except BatchError as exc:
            refused = sensor_unit_errors(batch, exc)
            abort(refused.status, refused.message, refused.errors)
    # Expired readings are counted in the metrics only: the answer stays
    # InfluxDB's, 204 without a body.
    return Response(status=204)


def _documented(arguments: type[ma.Schema]):
    """The operation's documentation: its query arguments (checked by the
    view itself, 400 as InfluxDB, not webargs' 422), body and answers."""
    def document(view):
        view = _answers(view)
        view = blp.arguments(arguments, location="query")(view)
        view._apidoc["arguments"]["responses"].pop(422, None)
        return view

    return document


def _answers(view):
    view = blp.doc(requestBody=_LINES_BODY)(view)
    view = blp.response(204, description="Every reading was stored (duplicates ignored, the first value wins).")(view)
    for status, description in (
        (400, "A bad line (named, with its number), bad query arguments or no line; nothing written"),
        (404, "A sensor of the write belongs to another org than the API key's; nothing written"),
        (413, "Body over MAX_BODY_BYTES, also once decompressed, or more than MAX_BATCH readings"),
        (503, "Redis not answering; nothing acknowledged, retry"),
    ):
        view = blp.alt_response(status, description=description)(view)
    return view


@blp.route("/api/v2/write", methods=["POST"])
@requires("ingest")
@direct_view
@_documented(WriteV2QuerySchema)
def write_v2():
    """Write line protocol (InfluxDB 2 API)

    ``org`` and ``bucket`` are accepted and ignored. Send the API key as
    ``Authorization: Token <key>`` (influx clients), ``Bearer`` or ``X-API-Key``.
    """
    with stores().readings.batch_slot():
        return _write(_V2_ARGS)


@blp.route("/write", methods=["POST"])
@requires("ingest")
@direct_view
@_documented(WriteV1QuerySchema)
def write_v1():
    """Write line protocol (InfluxDB 1 API)

    ``db`` is accepted and ignored. Send the API key as
    ``Authorization: Token <key>``, ``Bearer`` or ``X-API-Key``.
    """
    with stores().readings.batch_slot():
        return _write(_V1_ARGS)
