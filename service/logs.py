"""JSON log lines on stdout, each request tagged with a request id.

The id is taken from the client's X-Request-ID when it is sane, otherwise
generated, and returned in the response's X-Request-ID header. gunicorn's
own lines go through the same handler (``logconfig_dict`` in gunicorn.conf.py).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import threading
import time

import orjson
from flask import Flask, g, request

from .transport import client_address

# fullmatch: a trailing newline must not slip into log lines and headers.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}").fullmatch
access_log = logging.getLogger("sensorhub.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            line.update(extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class BufferedStdoutHandler(logging.Handler):
    """JSON lines to stdout, written in batches.

    An access line per request would otherwise cost a write system call per
    request. INFO lines wait at most FLUSH_SECONDS in memory (a daemon thread
    writes them); a WARNING or worse is written at once, with everything
    before it, and logging.shutdown() flushes at exit.
    """

    FLUSH_SECONDS = 0.2
    # configure_logging adds no second one (gunicorn's logconfig_dict may have installed it).
    _sensorhub = True

    def __init__(self) -> None:
        super().__init__()
        self._lines: list[str] = []
        self._flusher_pid: int | None = None
        # Lines the gunicorn master holds when it forks a worker are its own
        # to write, not the worker's.
        os.register_at_fork(after_in_child=self._lines.clear)

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            self._lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.flush()
        elif self._flusher_pid != os.getpid():
            # Started lazily, and again in a forked child (threads do not
            # survive a fork).
            self._flusher_pid = os.getpid()
            threading.Thread(target=self._flush_forever, name="log-flusher", daemon=True).start()

    def flush(self) -> None:
        with self.lock:
            if not self._lines:
                return
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            sys.stdout.write(text)
            sys.stdout.flush()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a closed stdout must not kill the thread noisily
                return


def configure_logging(level: str) -> None:
    # sensorhub's lines carry no source file or thread; not collecting them
    # saves a stack walk per line on the request path. (The process id stays:
    # gunicorn's own log format prints it.)
    logging._srcfile = None
    logging.logThreads = False
    root = logging.getLogger()
    if not any(getattr(h, "_sensorhub", False) for h in root.handlers):
        handler = BufferedStdoutHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)


class RequestIds:
    """Ids unique across processes without a system call per request: a
    random prefix drawn once per process (again in a forked child), then a
    counter. Thread-safe: the state is one tuple, swapped in atomically."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._state: tuple[str, itertools.count] | None = None
        self._lock = threading.Lock()

    def next(self) -> str:
        state = self._state
        if state is None:
            with self._lock:
                if self._state is None:
                    self._state = (os.urandom(8).hex(), itertools.count(1))
                state = self._state
        prefix, counter = state
        return f"{prefix}{next(counter):016x}"


_request_ids = RequestIds()


class RequestLog:
    """Request ids and access lines, for the app's hooks and for the body
    gate (``service.transport``), whose refusals never reach the app: every
    answer carries an id and, with ``enabled`` (LOG_REQUESTS), gets one
    access line of one shape."""

    def __init__(self, enabled: bool, trusted_proxies: tuple = ()):
        self.enabled = enabled
        self.trusted_proxies = trusted_proxies

    def client(self, environ: dict) -> str | None:
        """Who asked: the TCP peer, or behind a trusted proxy the client it
        forwarded for (``transport.client_address``)."""
        return client_address(environ, self.trusted_proxies)

    @staticmethod
    def id_of(environ: dict) -> str:
        """The client's X-Request-ID when it is sane, else a new id."""
        given = environ.get("HTTP_X_REQUEST_ID")
        return given if given and _REQUEST_ID(given) else _request_ids.next()

    def write(self, environ: dict, *, method: str, path: str, request_id: str | None, status: int,
              started: float | None, error: str | None) -> None:
        """The access line of an answered request (``error``: the message of
        a 4xx, why it was refused)."""
        fields = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "client": self.client(environ),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        if 400 <= status < 500:
            fields["error"] = error
        access_log.info("request", extra={"fields": fields})


def init_request_logging(app: Flask, log_requests: bool, trusted_proxies: tuple = ()) -> RequestLog:
    """The app's request ids and access lines; the ``RequestLog`` they use,
    for the body gate."""
    requests = RequestLog(log_requests, trusted_proxies)

    @app.before_request
    def _assign_request_id():
        g.request_id = requests.id_of(request.environ)
        g.started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        if log_requests:
            # error: the message of the JSON error answered (service/errors.py).
            requests.write(request.environ, method=request.method, path=request.path, request_id=request_id,
                           status=response.status_code, started=g.get("started"), error=g.get("error_message"))
        return response

    return requests
