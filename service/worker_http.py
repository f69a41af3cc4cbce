"""The background worker's own HTTP port (WORKER_PORT): /livez, /readyz
and /metrics, served on a thread beside the worker's loops.

- ``/livez``: 204 while every loop thread runs (Redis is not consulted:
  an outage must not restart the worker; it waits for Redis by itself).
- ``/readyz``: 204 when Redis answers and a detection pass completed
  within the last three intervals, else 503 with the reason.
- ``/metrics``: Prometheus text; ``sensorhub_worker_late`` is computed
  when scraped.
"""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from .metrics import OWN_METRICS, WORKER_LATE, WORKER_METRICS, single_process_registry
from .settings import Settings
from .transport import error_body

log = logging.getLogger("sensorhub.worker")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass  # no line per probe and scrape


def probes_app(health):
    """The WSGI application of the worker's port, reporting ``health`` (a
    ``service.worker.WorkerHealth``)."""
    metrics = make_wsgi_app(single_process_registry(OWN_METRICS + WORKER_METRICS))

    def unavailable(start_response, code: int, status: str, message: str) -> list[bytes]:
        body = error_body(code, message)
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            WORKER_LATE.set(1 if health.late() else 0)
            return metrics(environ, start_response)
        if path == "/livez":
            if not health.alive():
                return unavailable(start_response, 503, "503 Service Unavailable", "A worker loop has stopped.")
        elif path == "/readyz":
            if not health.redis_connected:
                return unavailable(start_response, 503, "503 Service Unavailable", "Redis is not answering.")
            if health.last_pass is None or health.late():
                return unavailable(start_response, 503, "503 Service Unavailable",
                                   "No offline detection pass completed within the last three intervals.")
        else:
            return unavailable(start_response, 404, "404 Not Found", "The worker serves /livez, /readyz and /metrics.")
        start_response("204 No Content", [])
        return [b""]

    return app


def serve_probes(health, settings: Settings) -> WSGIServer | None:
    """Serve the worker's port on a daemon thread; None (logged) when the
    port cannot be bound: the worker's loops matter more than its probes,
    and a probe that cannot connect says so to the orchestrator."""
    try:
        server = make_server("0.0.0.0", settings.worker_port, probes_app(health), _Server, _QuietHandler)
    except OSError as exc:
        log.error("worker port not served", extra={"fields": {"port": settings.worker_port, "error": repr(exc)}})
        return None
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    log.info("worker port served", extra={"fields": {"port": settings.worker_port}})
    return server
