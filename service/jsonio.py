"""JSON in and out: orjson for speed, one way to read request bodies."""

from __future__ import annotations

import json

import orjson
from flask import Response, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

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


def direct_view(documented):
    """The view under flask-smorest's ``response``/``alt_response``/``doc``
    decorators, called without their wrappers, their documentation kept.

    Those wrappers only pass a Response through, one call layer each per
    request; a hot view that builds its own (``json_response``) or raises
    needs none of them. Put it under ``@blp.route`` and ``@requires``, above
    the documenting decorators.
    """
    view = documented
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    view._apidoc = documented._apidoc
    return view


MSG_DUPLICATE_KEYS = "The request body repeats a key within one JSON object; send each key once."


def count_strings(document) -> int:
    """Strings in a parsed JSON document, object keys included."""
    total = 0
    stack = [document]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            total += len(node)
            values = node.values()
        elif kind is list:
            values = node
        else:
            total += kind is str
            continue
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append(value)
            elif kind is str:
                total += 1
    return total


def _keys_unique(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(key)
        result[key] = value
    return result


def reject_duplicate_keys(raw: bytes, strings: int) -> None:
    """400 when an object of ``raw`` repeats a key (orjson keeps the last);
    see ``repeated_key``."""
    problem = repeated_key(raw, strings)
    if problem:
        abort(400, problem)


def repeated_key(raw: bytes, strings: int) -> str | None:
    """What is wrong when an object of the JSON text ``raw`` repeats a key
    (orjson keeps the last), else None.

    ``strings`` is the number of strings, keys included, in the parsed
    document. Without backslash escapes each string of the text holds
    exactly two quote characters, and a repeated key adds at least one
    string the parsed document lost: counting quotes (a C loop) proves the
    common case clean. Only bodies with escapes or with more quotes than
    expected are parsed again, slowly, to find a repeated key.
    """
    if b"\\" not in raw and raw.count(b'"') == 2 * strings:
        return None
    try:
        json.loads(raw, object_pairs_hook=_keys_unique)
    except json.JSONDecodeError as exc:
        return f"The request body is not valid JSON: {exc}"
    except RecursionError:
        return "The request body nests JSON too deeply."
    except ValueError as exc:
        return f"{MSG_DUPLICATE_KEYS} Repeated key: {str(exc)[:64]!r}."
    return None


def read_json() -> tuple[object, bytes]:
    """The request's JSON document and its raw bytes, or a 4xx JSON error.

    415 when the body is not declared as JSON, 413 over MAX_BODY_BYTES (the
    body gate, ``service.transport``, refuses it before any route), 400 when empty or not valid JSON. NaN and
    Infinity literals and numbers too large for a double are not JSON here.
    Repeated keys are not checked: see ``reject_duplicate_keys``.
    """
    mimetype = request.mimetype
    if mimetype != JSON_MIMETYPE and not mimetype.endswith("+json"):
        abort(415, f"Send the body as {JSON_MIMETYPE} (got {mimetype or 'no Content-Type'}).")
    raw = request.get_data(cache=False)
    if not raw:
        abort(400, "The request body is empty; send a JSON document.")
    try:
        return orjson.loads(raw), raw
    except orjson.JSONDecodeError as exc:
        abort(400, f"The request body is not valid JSON: {exc}")


def json_body():
    """The request's JSON document (see ``read_json``); 400 when an object
    repeats a key, since which of the copies was meant is unknowable."""
    document, raw = read_json()
    reject_duplicate_keys(raw, count_strings(document))
    return document


class StrictJsonParser(FlaskParser):
    """webargs' parser, reading JSON bodies with ``json_body``: every
    ``@blp.arguments(Schema)`` body passes the checks of POST /data (415,
    400 empty, invalid, too deep or repeating a key, 413) before its schema
    runs. webargs alone took a body not declared JSON, or an empty one, as
    ``{}``, parsed repeated keys last-wins and let deep nesting overflow.

    Query strings follow their schema's ``unknown`` (marshmallow's default:
    raise), not webargs' default of dropping what a schema does not name: a
    misspelt parameter (``?sinse=``, ``?bucket_size=``) is a 422 naming it,
    never silently ignored. A schema that must take more (the line protocol
    routes, for influx clients' extra parameters) says ``EXCLUDE``."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None}

    def load_json(self, req, schema):
        return json_body()


# What the gate may answer before a body's schema runs, in the OpenAPI document.
GATE_RESPONSES = {
    400: "BAD_REQUEST",
    413: "REQUEST_ENTITY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class Blueprint(SmorestBlueprint):
    """The Blueprint of every domain: JSON bodies go through the strict
    reader (``StrictJsonParser``), and their operations document its 4xx."""

    ARGUMENTS_PARSER = StrictJsonParser()

    def arguments(self, schema, *, location="json", **kwargs):
        decorate = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorate

        def decorator(func):
            view = decorate(func)
            responses = view._apidoc["arguments"]["responses"]
            for status, name in GATE_RESPONSES.items():
                responses.setdefault(status, name)
            return view

        return decorator
