"""Cross-origin requests from browsers (CORS_ORIGINS), with flask-cors.

Off by default: no CORS header at all, so only pages served by sensorhub
itself (the dashboard, /docs) may call it from a browser. With origins
listed, their pages may call every route (credentials allowed: cookies of a
proxy in front); with ``*``, any page may, never with credentials. The API
key still decides what a call may do: CORS only lets the browser show the
answer to the page.

A preflight (OPTIONS with ``Access-Control-Request-Method``) carries no API
key, so the access guard would refuse it; ``init_cors`` therefore answers
the preflight of an allowed origin to an existing route itself, before the
guard, with Flask's empty OPTIONS answer. Nothing else passes: any other
OPTIONS request, and every other request, meets the guard as before.
"""

from __future__ import annotations

import re

from flask import Flask, current_app, request
from flask_cors import CORS

from .settings import ANY_ORIGIN

# Response headers a page may read besides the CORS-safelisted ones: the
# wait of a 429/503, the id of a request (as in the error body), the file
# name of an export, the challenge of a 401 and the validator of static files.
EXPOSED_HEADERS = ("Retry-After", "X-Request-ID", "Content-Disposition", "WWW-Authenticate", "ETag")
# Request headers a page may send: the API key (either way), JSON and
# compressed bodies, its own request id.
ALLOWED_HEADERS = ("Authorization", "X-API-Key", "Content-Type", "Content-Encoding", "X-Request-ID")
# Seconds a browser may reuse a preflight's answer.
PREFLIGHT_MAX_AGE = 600


def _patterns(origins: tuple[str, ...]) -> list[re.Pattern]:
    # Compiled, so that flask-cors never reads an origin as a regular
    # expression (it guesses from characters such as "[" of an IPv6 host).
    return [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins]


def init_cors(app: Flask, origins: tuple[str, ...]) -> None:
    """Install CORS for ``origins`` (a no-op when empty); call before the
    access guard is installed, so that preflights are answered before it."""
    if not origins:
        return
    any_origin = origins == (ANY_ORIGIN,)
    patterns = [re.compile(".*")] if any_origin else _patterns(origins)
    CORS(
        app,
        origins=ANY_ORIGIN if any_origin else patterns,
        # "*" itself, not the page's origin, for any origin: cacheable, and
        # browsers never send credentials with it.
        send_wildcard=any_origin,
        supports_credentials=not any_origin,
        expose_headers=list(EXPOSED_HEADERS),
        allow_headers=list(ALLOWED_HEADERS),
        max_age=PREFLIGHT_MAX_AGE,
        # No Origin, no CORS header (flask-cors would list every origin).
        always_send=False,
    )

    @app.before_request
    def _answer_preflight():
        asked = request._get_current_object()
        if asked.method != "OPTIONS" or "Access-Control-Request-Method" not in asked.headers:
            return None
        origin = asked.headers.get("Origin")
        rule = asked.url_rule
        # Only Flask's automatic OPTIONS answer (the Allow header) of a route
        # that exists, to an origin that is allowed.
        if not origin or rule is None or not getattr(rule, "provide_automatic_options", False):
            return None
        if not any(pattern.match(origin) for pattern in patterns):
            return None
        return current_app.make_default_options_response()
