"""Authentication and authorisation of every request (see ``service.auth``)."""

from __future__ import annotations

import logging
from copy import deepcopy

from apispec import BasePlugin
from flask import Flask, current_app, g, request

from ..errors import abort
from ..metrics import AUTH_FAILURES
from ..redisdb.scripts import Scripts
from ..stores import stores
from ..transport import client_address
from .keyring import RECOMMENDED_KEY_LENGTH, ROLES, ApiKey, KeyRing
from .principal import OPEN, Principal
from .ratelimit import FailedKeyThrottle, RateLimiter

log = logging.getLogger("sensorhub.auth")

# Never behind a key: probes, metrics, the API description and static files.
EXEMPT_PATHS = frozenset({"/healthz", "/livez", "/metrics", "/openapi.json", "/docs"})
EXEMPT_PREFIXES = ("/static/", "/dashboard/static/")
PUBLIC = "public"
_ROLE_ATTR = "_sensorhub_role"
_DOC_ROLE = "x-required-role"
SECURITY = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def _mark(func, role: str):
    setattr(func, _ROLE_ATTR, role)
    # flask-smorest reads _apidoc when @blp.route registers the view.
    func._apidoc = deepcopy(getattr(func, "_apidoc", {}))
    func._apidoc.setdefault("manual_doc", {})[_DOC_ROLE] = role
    return func


def requires(role: str):
    """Declare the role a view needs: put it under ``@blp.route``.

    ``admin`` keys pass every check; ``read`` and ``ingest`` keys only their own.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return lambda func: _mark(func, role)


def public(func):
    """Declare a view open to everyone, keys configured or not."""
    return _mark(func, PUBLIC)


def view_role(view, method: str) -> str | None:
    """The role declared for ``view`` (PUBLIC for open views), None if undeclared."""
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, method.lower(), None)
    return getattr(view, _ROLE_ATTR, None)


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def undeclared_endpoints(app: Flask) -> list[str]:
    """"METHOD rule" of every route that declares no role (they need admin)."""
    missing = []
    for rule in app.url_map.iter_rules():
        if is_exempt(rule.rule):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if view_role(view, method) is None:
                missing.append(f"{method} {rule.rule}")
    return missing


class AccessControl:
    """Per-app state: the parsed keys, their ring (None in open mode), the
    rate limiter and the throttle of failed key guesses."""

    def __init__(self, api_keys: tuple[ApiKey, ...], scripts: Scripts, failures_per_minute: int):
        self.api_keys = api_keys
        self.ring = KeyRing(api_keys, self._principal_of) if api_keys else None
        limited = any(k.rate_limit for k in api_keys)
        throttled = bool(api_keys and failures_per_minute)
        # One fixed-window script serves both.
        window = scripts.register("service.auth", "ratelimit.lua") if limited or throttled else None
        self.limiter = RateLimiter(window) if limited else None
        self.throttle = FailedKeyThrottle(window, failures_per_minute) if throttled else None
        # (endpoint, method) -> (view, role it needs): looked up once per route.
        self.routes: dict[tuple, tuple] = {}

    @staticmethod
    def _principal_of(api_key: ApiKey) -> Principal:
        return Principal(role=api_key.role, org=api_key.org, key_id=api_key.key_id, rate_limit=api_key.rate_limit)


# Authorization schemes that carry an API key: Bearer, and Token as the
# InfluxDB clients and Telegraf send it (line protocol writes).
KEY_SCHEMES = frozenset({"bearer", "token"})


def _presented_key() -> str | None:
    bearer = None
    authorization = request.headers.get("Authorization")
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() in KEY_SCHEMES:
            bearer = credentials.strip() or None
    header_key = request.headers.get("X-API-Key") or None
    if bearer is not None and header_key is not None and bearer != header_key:
        _unauthorized("Two different API keys were sent; send one.", invalid=True)
    return bearer or header_key


def _unauthorized(message: str, invalid: bool = False):
    challenge = 'Bearer realm="sensorhub"' + (', error="invalid_token"' if invalid else "")
    abort(401, message, headers={"WWW-Authenticate": challenge})


def _check_access() -> None:
    asked = request._get_current_object()  # one context lookup, not one per attribute
    if is_exempt(asked.path):
        return
    access = stores().access
    route = (asked.endpoint, asked.method)
    try:
        view, needed = access.routes[route]
    except KeyError:
        view = current_app.view_functions.get(asked.endpoint) if asked.endpoint else None
        needed = view_role(view, asked.method) if view is not None else None
        if view is not None:  # a matched route: a bounded set of keys
            access.routes[route] = view, needed
    if needed == PUBLIC:
        return
    if access.ring is None:
        g.principal = OPEN
        return
    presented = _presented_key()
    if presented is None:
        _unauthorized("An API key is required: send 'Authorization: Bearer <key>' (or 'Token <key>') or 'X-API-Key: <key>'.")
    throttle = access.throttle
    if throttle is not None:
        # Behind a trusted proxy, the client it forwarded for: else every
        # client of the proxy would share one count.
        client = client_address(asked.environ, stores().settings.trusted_proxies) or ""
        throttle.refuse_if_blocked(client)
    who = access.ring.lookup(presented)
    if who is None:
        if throttle is not None:
            throttle.failed(client, presented)
        AUTH_FAILURES.labels("unauthorized").inc()
        _unauthorized("The API key is not valid.", invalid=True)
    if who.rate_limit is not None:
        access.limiter.check(who)
    # A route without a declared role needs admin; no route at all (404/405)
    # needs only a valid key, so anonymous clients learn nothing of the routes.
    if view is not None:
        needed = needed or "admin"
        if not who.allows(needed):
            abort(403, f"This API key has the {who.role} role; this operation needs the {needed} role.")
    g.principal = who


class SecurityDocPlugin(BasePlugin):
    """Adds security requirements and 401/403/429 answers to every operation
    that declares a role (only when keys are configured: open mode asks for
    none, and the document says so)."""

    def __init__(self, rate_limited: bool):
        self.rate_limited = rate_limited

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            if not isinstance(operation, dict) or operation.get(_DOC_ROLE) in (None, PUBLIC):
                continue
            operation["security"] = deepcopy(SECURITY)
            responses = operation.setdefault("responses", {})
            responses.setdefault(401, "Unauthorized")
            responses.setdefault(403, "Forbidden")
            if self.rate_limited:
                responses.setdefault(429, "TooManyRequests")


def _document(api, rate_limited: bool) -> None:
    spec = api.spec
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("apiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    text = {"schema": {"type": "string"}}
    spec.components.response(
        "Unauthorized",
        {"description": "No API key, or not a valid one", "content": error, "headers": {"WWW-Authenticate": text}},
    )
    spec.components.response("Forbidden", {"description": "The API key's role does not allow this operation", "content": error})
    if rate_limited:
        spec.components.response(
            "TooManyRequests",
            {"description": "Over the API key's rate limit; retry after Retry-After seconds", "content": error,
             "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
        )
    plugin = SecurityDocPlugin(rate_limited)
    plugin.init_spec(spec)
    spec.plugins.append(plugin)


def init_auth(app: Flask, api, access: AccessControl) -> None:
    """Install access control; call before the domains register their routes."""
    if access.ring is None:
        log.warning(
            "no API keys configured (API_KEYS, API_KEYS_FILE): every endpoint is open to anyone who can reach it"
        )
    else:
        for api_key in access.api_keys:
            if api_key.length < RECOMMENDED_KEY_LENGTH:
                log.warning(
                    "short API key",
                    extra={"fields": {"key_id": api_key.key_id, "hint": f"use keys of {RECOMMENDED_KEY_LENGTH}+ random characters"}},
                )
        log.info("access control on", extra={"fields": {"keys": len(access.ring)}})
        _document(api, access.limiter is not None)
    app.before_request(_check_access)
