"""Compressed answers (COMPRESS_RESPONSES), with flask-compress.

An answer is compressed when the client's Accept-Encoding allows one of
COMPRESS_ALGORITHMS, its type is JSON, CSV, NDJSON or text (HTML, CSS,
JavaScript of /docs and the dashboard included), and it is at least
COMPRESS_MIN_BYTES long. A streamed answer (the exports) has no length
known in advance: it is compressed as it streams, chunk by chunk, never
built whole in memory. Every answer says ``Vary: Accept-Encoding``.

Static files keep their 304s: a compressed file's ETag gets the coding
appended (``"abc:gzip"``), and their endpoints are listed so that
flask-compress answers ``If-None-Match`` with that ETag itself.
"""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress

from .settings import Settings

COMPRESSED_MIMETYPES = (
    "application/json",
    "text/csv",
    "application/x-ndjson",
    "text/plain",
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
)
# Endpoints of static files (streamed, with ETags): their conditional
# requests are evaluated after compression, against the coding's ETag.
STATIC_ENDPOINTS = ("static", "dashboard.static", "apidocs.asset")


class _Compress(Compress):
    def after_request(self, response):
        # A body known to be empty without a Content-Length (Flask's OPTIONS
        # answer, CORS preflights) stays empty: flask-compress would send
        # the compressed form of nothing, 9 to 20 bytes.
        if response.content_length is None and not response.is_streamed and not response.get_data():
            return response
        return super().after_request(response)


def init_compression(app: Flask, settings: Settings) -> None:
    """Compress answers as configured; call after the routes' own
    after-request hooks are installed (it then runs before them)."""
    if not settings.compress_responses:
        return
    codings = list(settings.compress_codings)
    app.config.update(
        COMPRESS_MIMETYPES=list(COMPRESSED_MIMETYPES),
        COMPRESS_MIN_SIZE=settings.compress_min_bytes,
        COMPRESS_ALGORITHM=codings,
        # gzip streams as well as the others (zlib's streaming compressor).
        COMPRESS_ALGORITHM_STREAMING=codings,
        COMPRESS_STREAMS=True,
        COMPRESS_STREAMING_ENDPOINT_CONDITIONAL=list(STATIC_ENDPOINTS),
    )
    _Compress(app)
