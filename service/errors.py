"""One JSON error shape for every 4xx and 5xx answer.

``{"code": 422, "status": "Unprocessable Entity", "message": "...",
"errors": {...}, "request_id": "..."}``: flask-smorest's shape, with a
message always present and the request id added. ``errors`` lists problems
by location, then item index, then field, e.g.
``{"json": {"3": {"value": ["Not a valid number."]}}}``.
"""

from __future__ import annotations

import logging

import marshmallow as ma
import redis
from flask import Flask, g, has_request_context, jsonify, request
from flask_smorest import Api
from flask_smorest import abort as smorest_abort
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, ServiceUnavailable

from .metrics import REDIS_OUT_OF_MEMORY
from .redisdb.connection import UNAVAILABLE_ERRORS, ReplicasNotAcknowledged, refuses_credentials
from .stores import stores

log = logging.getLogger("sensorhub.errors")


# Redis refuses a write past maxmemory with "-OOM ..."; inside a Lua script
# Redis 6 wraps it in a script error instead of the OOM error class.
_OOM_REFUSAL = "OOM command not allowed"


def is_out_of_memory(error: Exception) -> bool:
    return isinstance(error, redis.exceptions.OutOfMemoryError) or (
        isinstance(error, redis.exceptions.ResponseError) and _OOM_REFUSAL in str(error)
    )


class ErrorSchema(ma.Schema):
    """The error payload (documentation only: errors are built by hand)."""

    code = ma.fields.Integer(metadata={"description": "HTTP status code"})
    status = ma.fields.String(metadata={"description": "HTTP status name"})
    message = ma.fields.String(metadata={"description": "What went wrong, for a person"})
    errors = ma.fields.Dict(metadata={"description": "Problems by location, item index and field"})
    request_id = ma.fields.String(metadata={"description": "Id of the request, as in the X-Request-ID header"})


MSG_INVALID_REQUEST = "The request is invalid; nothing was written."
MSG_INVALID_READ = "The request is invalid."
# Methods that change nothing by nature: their errors need not say that nothing was written.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_read() -> bool:
    return has_request_context() and request.method in READ_METHODS


def invalid_request_message() -> str:
    """The message of a request refused as invalid, fit for its method."""
    return MSG_INVALID_READ if is_read() else MSG_INVALID_REQUEST


class NotFoundError(LookupError):
    """A domain's "no such thing", raised by a store; every route that lets
    it through answers 404 with its message in the common shape."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def abort(code: int, message: str, errors: dict | None = None, headers: dict | None = None):
    """Stop the request with a JSON error of the common shape."""
    kwargs = {"message": message}
    if errors is not None:
        kwargs["errors"] = errors
    if headers:
        kwargs["headers"] = headers
    smorest_abort(code, **kwargs)


def error_payload(error: HTTPException) -> tuple[dict, dict]:
    payload = {"code": error.code, "status": error.name}
    headers: dict = {}
    data = getattr(error, "data", None) or {}
    payload["message"] = data.get("message") or error.description or error.name
    if "errors" in data:
        payload["errors"] = data["errors"]
    elif "messages" in data:
        payload["errors"] = data["messages"]
        payload["message"] = data.get("message") or invalid_request_message()
    headers.update(data.get("headers") or {})
    request_id = g.get("request_id")
    if request_id:
        payload["request_id"] = request_id
    # For the access line (service/logs.py).
    g.error_message = payload["message"]
    return payload, headers


class SensorhubApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        payload, headers = error_payload(error)
        response = jsonify(payload)
        response.status_code = error.code
        response.headers.update(headers)
        return response


def register_error_handlers(app: Flask, api: SensorhubApi) -> None:
    def unavailable(message: str, retry_after: int):
        exc = ServiceUnavailable()
        exc.data = {"message": message, "headers": {"Retry-After": str(retry_after)}}
        return api.handle_http_exception(exc)

    def redis_unavailable(error):
        # The server by host:port (a timeout's message names none), never REDIS_URL: it may hold the password.
        log.warning("redis unavailable", extra={"fields": {
            "error": repr(error), "redis": stores().settings.redis_server, "request_id": g.get("request_id")}})
        if refuses_credentials(error):
            return unavailable(
                "The data store refuses sensorhub's credentials (the password in REDIS_URL)"
                + ("" if is_read() else "; nothing was written") + ". An operator must correct it; retry later.", 30)
        if isinstance(error, ReplicasNotAcknowledged):
            return unavailable(
                "The data store did not confirm replication in time (REDIS_WAIT_REPLICAS); "
                "the request is not acknowledged. Retry: re-sent readings are recognised.", 1)
        if is_read():
            return unavailable("The data store is not answering. Retry shortly.", 1)
        return unavailable("The data store is not answering; nothing was written. Retry shortly.", 1)

    def redis_refused(error):
        if refuses_credentials(error):
            return redis_unavailable(error)
        if not is_out_of_memory(error):
            return unexpected(error)
        REDIS_OUT_OF_MEMORY.inc()
        log.error("redis out of memory", extra={"fields": {"error": str(error), "request_id": g.get("request_id")}})
        return unavailable(
            "The data store is full (Redis maxmemory reached) and refuses writes; this request was not "
            "acknowledged. An operator must raise REDIS_MAXMEMORY or free data; retry later.", 30)

    def unexpected(error):
        if isinstance(error, HTTPException):
            return api.handle_http_exception(error)
        log.exception("unhandled error", extra={"fields": {"request_id": g.get("request_id")}})
        exc = InternalServerError()
        exc.data = {"message": "An unexpected error occurred; it has been logged."}
        return api.handle_http_exception(exc)

    def not_found(error):
        exc = NotFound()
        exc.data = {"message": error.message}
        return api.handle_http_exception(exc)

    for error_class in UNAVAILABLE_ERRORS:
        app.register_error_handler(error_class, redis_unavailable)
    # A write past maxmemory: OutOfMemoryError, or (inside a Lua script on
    # Redis 6) a script error carrying "-OOM"; any other refusal is a bug.
    app.register_error_handler(redis.exceptions.ResponseError, redis_refused)
    app.register_error_handler(NotFoundError, not_found)
    app.register_error_handler(Exception, unexpected)
