"""JSON in and out: orjson for speed, one way to read request bodies."""

from __future__ import annotations

import json

import orjson
from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from .errors import abort, invalid_request_message

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


def query_arguments(schema, absent):
    """The request's query loaded by ``schema`` as ``@blp.arguments(schema,
    location="query")`` would (422 naming what is wrong), for a view run
    without that wrapper (``direct_view``); ``absent`` when there is no
    query at all, parsed by nothing."""
    if not request.args:
        return absent
    return Blueprint.ARGUMENTS_PARSER.parse(schema, location="query")


# What the gate may answer before a body's schema runs, in the OpenAPI document.
GATE_RESPONSES = {
    400: "BAD_REQUEST",
    413: "REQUEST_ENTITY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


MSG_UNKNOWN_PARAMETER = "Unknown field."  # marshmallow's words, as a query schema answers
# Set by Blueprint on each view it registers: True when the view declares
# no query parameter, so that any is refused (``refuse_undeclared_query``).
_TAKES_NO_QUERY = "_sensorhub_takes_no_query"
_IGNORES_QUERY = "_sensorhub_ignores_query"


def ignores_query(view):
    """Declare that a view ignores its query string instead of refusing it:
    probes, which monitors and tools may call with a cache-busting
    parameter. Put it under ``@blp.route``."""
    setattr(view, _IGNORES_QUERY, True)
    return view


def declares_query(view, parameters=None) -> bool:
    """Whether the view's documentation names query parameters: its
    ``@blp.arguments(..., location="query")``, a ``@blp.doc(parameters=...)``
    in the query, or the route's own ``parameters``."""
    apidoc = getattr(view, "_apidoc", None) or {}
    declared = (
        *apidoc.get("arguments", {}).get("parameters", ()),
        *apidoc.get("manual_doc", {}).get("parameters", ()),
        *(parameters or ()),
    )
    return any(isinstance(parameter, dict) and parameter.get("in") == "query" for parameter in declared)


def refuse_undeclared_query(app: Flask) -> None:
    """Refuse any query parameter of an API route that declares none: a 422
    naming them, before the view runs, so nothing changes. A route that
    declares some checks its own (its schema refuses the others); routes
    of no domain Blueprint (the dashboard, static files, /docs,
    /openapi.json, /metrics) and ``ignores_query`` views take any.

    Register it after access control: a client without a valid key learns
    nothing of what a route takes. Most requests have no query string:
    for them the check is one lookup in the WSGI environ."""

    @app.before_request
    def _refuse_undeclared_query():
        asked = request._get_current_object()  # one context lookup
        if not asked.environ.get("QUERY_STRING"):
            return
        view = app.view_functions.get(asked.endpoint) if asked.endpoint else None
        if getattr(view, _TAKES_NO_QUERY, False) and asked.args:
            abort(422, invalid_request_message(), {"query": {name: [MSG_UNKNOWN_PARAMETER] for name in asked.args}})


class Blueprint(SmorestBlueprint):
    """The Blueprint of every domain: JSON bodies go through the strict
    reader (``StrictJsonParser``), and their operations document its 4xx.
    A view declaring no query parameter is marked to refuse any
    (``refuse_undeclared_query``)."""

    ARGUMENTS_PARSER = StrictJsonParser()

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, *,
                     parameters=None, **options):
        if view_func is not None and not isinstance(view_func, type):  # a function, not a MethodView
            takes_no_query = not (getattr(view_func, _IGNORES_QUERY, False) or declares_query(view_func, parameters))
            setattr(view_func, _TAKES_NO_QUERY, takes_no_query)
            if takes_no_query:
                # Documented where the operation documents no 422 of its own.
                responses = view_func.__dict__.setdefault("_apidoc", {}).setdefault("response", {}).setdefault("responses", {})
                if 422 not in responses and "422" not in responses:
                    responses[422] = ["UNPROCESSABLE_ENTITY"]
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, parameters=parameters, **options)

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
