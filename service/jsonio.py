"""JSON in and out: orjson for speed, one way to read request bodies."""

from __future__ import annotations

import orjson
from flask import Response, request
from flask.json.provider import DefaultJSONProvider

from .errors import abort

JSON_MIMETYPE = "application/json"


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider backed by orjson (also used by flask-smorest)."""

    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj, default=self.default, option=orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)


def json_response(payload, status: int = 200) -> Response:
    """A JSON response serialised directly, for hot routes.

    flask-smorest passes a Response through untouched, so the route keeps
    its ``@blp.response`` schema for the OpenAPI document without paying
    for a marshmallow dump per request; tests check the output against the
    schema.
    """
    return Response(orjson.dumps(payload), status=status, mimetype=JSON_MIMETYPE)


def json_body():
    """The request's JSON document, or a 4xx JSON error.

    415 when the body is not declared as JSON, 413 over MAX_BODY_BYTES (Flask
    raises it while reading), 400 when empty or not valid JSON. NaN and
    Infinity literals and numbers too large for a double are not JSON here.
    """
    mimetype = request.mimetype
    if mimetype != JSON_MIMETYPE and not mimetype.endswith("+json"):
        abort(415, f"Send the body as {JSON_MIMETYPE} (got {mimetype or 'no Content-Type'}).")
    raw = request.get_data(cache=False)
    if not raw:
        abort(400, "The request body is empty; send a JSON document.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        abort(400, f"The request body is not valid JSON: {exc}")
