"""What reaches a route: a request body read whole, in time, within its framing.

``BodyGate`` wraps the WSGI application. Before any route runs it reads the
body of a request that has one:

- at most ``max_bytes`` (MAX_BODY_BYTES) are read, whatever the framing:
  a ``Content-Length`` above the limit is answered 413 without reading, a
  chunked body is answered 413 as soon as it passes the limit (never cut
  short and parsed);
- a body shorter than its ``Content-Length`` (the client half-closed) is
  answered 400, never parsed as if complete;
- the whole body must arrive within ``read_timeout`` seconds (BODY_TIMEOUT),
  else 408: a client sending a byte every few seconds holds a connection
  slot for that long at most;
- one client (``client_address``: behind a trusted proxy, the address it
  forwarded for) may have at most ``reads_per_client`` bodies being
  read at once in a worker process (MAX_BODY_READS_PER_CLIENT): past that
  its new uploads are answered 429 at once, so slow uploads cost their own
  slots, not everyone's. Requests without a body (probes, reads) are never
  counted or refused.
- a body sent with ``Content-Encoding: gzip`` or ``deflate`` is decompressed
  as it arrives, and the decompressed size is held to ``max_bytes`` too: a
  decompression bomb is answered 413 once that much has come out of it,
  never inflated whole; a truncated or corrupt stream is answered 400; any
  other coding 415, naming those accepted. The route sees the plain body.

Each refusal uses the common JSON error shape, carries a request id in its
body and ``X-Request-ID`` (the client's when it is sane, as every answer),
gets its access line (``request_log``, ``service.logs.RequestLog``) and
closes the connection without reading what is left of the body: gunicorn
drops an application's ``Connection`` header (hop by hop), so its response
is told to close (``Connection: close`` is then what it sends), and the read
side of its socket is shut, so it finds no further request.
gunicorn's own refusals of a malformed request (bad request line, headers
too large) use it too: ``write_json_error`` replaces gunicorn's HTML page.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import socket
import threading
import time
import zlib
from collections import Counter
from http import HTTPStatus

import orjson
from werkzeug.wsgi import get_path_info

from .metrics import BODIES_REFUSED
from .redisdb.roundtrips import gevent_patched

_CHUNK = 64 * 1024
# Content-Encoding values a body may be sent with; "x-gzip" is gzip's old
# name (RFC 9110 8.4.1.3).
ACCEPTED_CODINGS = ("gzip", "deflate")
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class _BadCoding(Exception):
    """The compressed body is truncated or corrupt."""


class _Inflater:
    """A gzip or deflate body decompressed chunk by chunk, never yielding
    more than ``limit`` + 1 bytes in all (so its caller sees the overflow).

    gzip may hold several members one after the other (RFC 1952 2.2);
    ``deflate`` is the zlib format (RFC 1950), and raw deflate, which some
    clients send under that name, is accepted too.
    """

    def __init__(self, coding: str, limit: int):
        self.coding = coding
        self.left = limit + 1
        self._decoder = None

    def _new_decoder(self, first: bytes):
        if self.coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        zlib_header = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        parts = []
        try:
            while data and self.left > 0:
                if self._decoder is not None and self._decoder.eof:
                    if self.coding != "gzip":
                        raise _BadCoding("data follows the end of the deflate stream")
                    self._decoder = None
                if self._decoder is None:
                    self._decoder = self._new_decoder(data)
                out = self._decoder.decompress(data, self.left)
                self.left -= len(out)
                parts.append(out)
                data = self._decoder.unconsumed_tail or self._decoder.unused_data
        except zlib.error as error:
            # "Error -3 while decompressing data: incorrect header check": the reason is the last part.
            raise _BadCoding(str(error).rpartition(": ")[2]) from None
        return b"".join(parts)

    def finish(self) -> None:
        """Raise ``_BadCoding`` unless the stream ended where its format ends."""
        if self.left > 0 and (self._decoder is None or not self._decoder.eof):
            raise _BadCoding("the compressed stream ends before its end marker (truncated)")


def error_body(code: int, message: str, status: str | None = None, request_id: str | None = None) -> bytes:
    """The common error shape (``service.errors``), built without Flask: the
    request never reached the app (gunicorn's own refusals have no id)."""
    payload = {"code": code, "status": status or HTTPStatus(code).phrase, "message": message}
    if request_id:
        payload["request_id"] = request_id
    return orjson.dumps(payload)


def _path(environ) -> str:
    """The request's path as ``flask.Request.path`` gives it, for the access line."""
    return "/" + get_path_info(environ).lstrip("/")


class BodyGate:
    def __init__(self, app, *, max_bytes: int, read_timeout: float, reads_per_client: int, request_log):
        self.app = app
        # service.logs.RequestLog: who the client is, request ids, access lines.
        self.request_log = request_log
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.reads_per_client = reads_per_client
        self._reading: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        declared = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and (not declared or declared == "0"):
            return self.app(environ, start_response)
        environ["sensorhub.started"] = time.perf_counter()  # for a refusal's access line
        length = None
        if declared and not chunked:
            try:
                length = int(declared)
            except ValueError:
                return self._refuse(environ, start_response, 400, "The Content-Length header is not a number.")
            if length > self.max_bytes:
                return self._refuse(environ, start_response, 413, self._too_large())
        declared_coding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        coding = None
        if declared_coding and declared_coding != "identity":
            coding = _CODINGS.get(declared_coding)
            if coding is None:
                return self._refuse(
                    environ, start_response, 415,
                    f"The Content-Encoding {declared_coding!r} is not accepted; send the body as "
                    f"{' or '.join(ACCEPTED_CODINGS)}, or not compressed; nothing was written.",
                )
        client = self.request_log.client(environ) or ""
        if not self._enter(client):
            return self._refuse(
                environ, start_response, 429,
                f"This client already has {self.reads_per_client} request bodies being received; "
                "send fewer uploads at once.", retry_after=1,
            )
        inflater = _Inflater(coding, self.max_bytes) if coding else None
        try:
            received, body = self._read(environ["wsgi.input"], length, inflater)
        except TimeoutError:
            return self._refuse(environ, start_response, 408,
                                f"The request body did not arrive within {self.read_timeout:g} s; nothing was written.")
        except _BadCoding as error:
            return self._refuse(environ, start_response, 400,
                                f"The request body is not valid {coding} data: {error}; nothing was written.")
        finally:
            self._leave(client)
        if len(body) > self.max_bytes:
            return self._refuse(environ, start_response, 413, self._too_large(decompressed=inflater is not None))
        if received > self.max_bytes:
            return self._refuse(environ, start_response, 413, self._too_large())
        if length is not None and received < length:
            return self._refuse(
                environ, start_response, 400,
                f"The request body ended after {received} of the {length} bytes its Content-Length announced; "
                "nothing was written.",
            )
        if inflater is not None:
            try:
                inflater.finish()
            except _BadCoding as error:
                return self._refuse(environ, start_response, 400,
                                    f"The request body is not valid {coding} data: {error}; nothing was written.")
            environ.pop("HTTP_CONTENT_ENCODING", None)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    def _too_large(self, decompressed: bool = False) -> str:
        what = "decompresses to more" if decompressed else "is larger"
        return f"The request body {what} than {self.max_bytes} bytes (MAX_BODY_BYTES); nothing was written."

    def _enter(self, client: str) -> bool:
        if not self.reads_per_client:
            return True
        with self._lock:
            if self._reading[client] >= self.reads_per_client:
                return False
            self._reading[client] += 1
            return True

    def _leave(self, client: str) -> None:
        if not self.reads_per_client:
            return
        with self._lock:
            self._reading[client] -= 1
            if self._reading[client] <= 0:
                del self._reading[client]

    def _read(self, stream, length: int | None, inflater: _Inflater | None) -> tuple[int, bytes]:
        """The count of bytes received (up to ``max_bytes + 1``) and the body
        they make, decompressed by ``inflater`` if any (up to ``max_bytes + 1``
        bytes: reading stops there), within the deadline."""
        wanted = self.max_bytes + 1 if length is None else length
        with _deadline(self.read_timeout):
            parts = []
            got = made = 0
            while got < wanted and made <= self.max_bytes:
                chunk = stream.read(min(_CHUNK, wanted - got))
                if not chunk:
                    break
                got += len(chunk)
                if inflater is not None:
                    chunk = inflater.feed(chunk)
                parts.append(chunk)
                made += len(chunk)
        return got, b"".join(parts)

    def _refuse(self, environ, start_response, code: int, message: str, retry_after: int | None = None):
        BODIES_REFUSED.labels(str(code)).inc()
        requests = self.request_log
        request_id = requests.id_of(environ)
        body = error_body(code, message, request_id=request_id)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close"),
                   ("X-Request-ID", request_id)]
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        # gunicorn's start_response is a method of its response, which
        # writes the Connection header from its own state.
        force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
        if callable(force_close):
            force_close()
        start_response(f"{code} {HTTPStatus(code).phrase}", headers)
        if requests.enabled:
            requests.write(environ, method=environ.get("REQUEST_METHOD", ""), path=_path(environ),
                           request_id=request_id, status=code, started=environ.get("sensorhub.started"),
                           error=message)
        connection = environ.get("gunicorn.socket")
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        return [body]


def client_address(environ: dict, trusted_proxies: tuple) -> str | None:
    """The address of the client: the TCP peer, or, when the peer is one of
    ``trusted_proxies``, the address X-Forwarded-For names for it.

    Proxies append the address they received from, so the list is read from
    the right, past every trusted proxy; the first address no trusted proxy
    holds is the client (what comes before it, anyone could have written).
    werkzeug's ProxyFix trusts a fixed number of hops whatever the peer is;
    here the peer itself must be trusted.
    """
    peer = environ.get("REMOTE_ADDR")
    if not trusted_proxies or not _in_networks(peer, trusted_proxies):
        return peer
    forwarded = environ.get("HTTP_X_FORWARDED_FOR")
    if not forwarded:
        return peer
    for hop in reversed([part.strip() for part in forwarded.split(",")]):
        if not _in_networks(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # not an address: the proxy's word is all there is
    return peer


def _in_networks(address: str | None, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def let_others_run() -> None:
    """Under gevent, let the greenlets that are ready run before this one
    carries on: a batch is milliseconds of Python that would otherwise hold
    its worker, reads waiting behind it (docs/performance.md, "Reads while
    ingest runs"). A no-op with threads,
    which the OS preempts."""
    sleep = _gevent_sleep()
    if sleep is not None:
        sleep(0)


@functools.cache
def _gevent_sleep():
    """gevent's sleep in a gevent worker, else None; asked once per process."""
    if not gevent_patched():
        return None
    from gevent import sleep

    return sleep


@functools.cache
def _gevent_timeout():
    """gevent's Timeout in a gevent worker, else None; asked once per process."""
    if not gevent_patched():
        return None
    from gevent import Timeout

    return Timeout


class _deadline:
    """``TimeoutError`` when the block outlives ``seconds``.

    Under gevent (the default worker) a gevent.Timeout interrupts a blocked
    read. Other workers have no such hook: there the read is bounded by
    gunicorn's worker timeout only, and the proxy in front should enforce a
    body timeout (docs/operations.md).
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.timeout = None

    def __enter__(self):
        timeout_class = _gevent_timeout()
        if timeout_class is not None:
            self.timeout = timeout_class(self.seconds, TimeoutError)
            self.timeout.start()
        return self

    def __exit__(self, *exc):
        if self.timeout is not None:
            self.timeout.close()
        return False


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` in the common JSON error shape."""
    from gunicorn.util import write_nonblock

    body = error_body(status_int, mesg or reason, reason)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    write_nonblock(sock, head.encode("latin-1") + body)
