"""Conditional GETs of JSON documents: a strong ETag of the content and
``304 Not Modified`` (no body) to an ``If-None-Match`` that holds it.

The ETag covers the document without its volatile fields (``server_time``
changes on every answer, the content does not): a 304 tells the client its
copy still holds, and the answer's time is its ``Date`` header. A
compressed answer's ETag gets the coding appended by flask-compress
(``"tag:gzip"``); it names the same content, so it matches as well, and the
304 is decided here, before the body is serialised or compressed (the
hash serialises the covered fields; a 200 serialises the body once more).

``If-None-Match`` compares weakly (RFC 9110 13.1.2): ``W/"tag"`` names the
same content as ``"tag"`` (a proxy or cache may weaken an ETag it passes
on), and ``*`` matches any content.
"""

from __future__ import annotations

import hashlib

import orjson
from flask import Response, request
from werkzeug.datastructures import ETags

from .jsonio import json_response

# The client keeps its copy but asks each time (the answer depends on the API key).
CACHE_CONTROL = "private, no-cache"


def content_etag(document: dict, volatile: tuple[str, ...]) -> str:
    """A hash of the document's JSON without its volatile top-level fields."""
    covered = {name: value for name, value in document.items() if name not in volatile}
    return hashlib.blake2b(orjson.dumps(covered, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def conditional_json(document: dict, volatile: tuple[str, ...] = ()) -> Response:
    """The document as JSON with its ETag, or a 304 when the client holds it."""
    tag = content_etag(document, volatile)
    held = held_etag(request.if_none_match, tag)
    if held is not None:
        response = Response(status=304)
        response.set_etag(held)
    else:
        response = json_response(document)
        response.set_etag(tag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def held_etag(asked: ETags, tag: str) -> str | None:
    """The opaque tag of ``asked`` (an ``If-None-Match``) that names the
    content of ETag ``tag`` by the weak comparison (werkzeug's
    ``contains_weak``): ``tag`` itself, strong or weak, or ``*``; else one
    with a coding appended (``tag:gzip``, flask-compress's), the first in
    sorted order so the choice is the same every time. None when none does.
    The 304 sends it back, strong, as the answer's own ETag is."""
    if asked.star_tag or asked.contains_weak(tag):
        return tag
    coded = tag + ":"
    return next((t for t in sorted(asked.as_set(include_weak=True)) if t.startswith(coded)), None)
