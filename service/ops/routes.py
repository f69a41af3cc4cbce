"""Probes for Kubernetes and load balancers, and the background workers' status."""

from __future__ import annotations

import logging

from ..auth import requires
from ..errors import abort
from ..jsonio import Blueprint, ignores_query
from ..redisdb.connection import UNAVAILABLE_ERRORS
from ..stores import stores
from ..timeutil import iso_now
from .schemas import StatusSchema

blp = Blueprint("ops", __name__, description="Readiness and liveness probes; the background workers' status.")
log = logging.getLogger("sensorhub.ops")


# Probes ignore a query string: monitors and tools may add a cache-buster.
@blp.route("/healthz", methods=["GET"])
@ignores_query
@blp.response(204, description="Ready: Redis answers and every Lua script is loaded.")
@blp.alt_response(503, description="Not ready; the JSON body says why.")
def healthz():
    """Readiness: 204 when this instance can serve requests"""
    try:
        stores().client.ping()
        stores().scripts.ensure_loaded()
    except UNAVAILABLE_ERRORS as exc:
        log.warning("not ready", extra={"fields": {"error": repr(exc)}})
        abort(503, f"Redis is not answering: {exc.__class__.__name__}.")


@blp.route("/livez", methods=["GET"])
@ignores_query
@blp.response(204, description="The process runs.")
def livez():
    """Liveness: 204 while the process runs (Redis is not consulted)"""


@blp.route("/v1/status", methods=["GET"])
@requires("admin")
@blp.response(200, StatusSchema)
@blp.alt_response(503, description="Redis not answering; retry")
def status():
    """The background workers' offline detection

    Each worker records in Redis when it completes a detection pass; a
    worker with no pass for more than three of its intervals is late
    (stalled, cut off from Redis, or gone without notice). A worker that
    stops cleanly leaves the list. ``/healthz`` stays about this web process.
    """
    workers = stores().workers.status()
    return {
        "detection_current": any(not worker["late"] for worker in workers),
        "workers": [{**worker, "last_pass": iso_now(worker["last_pass"])} for worker in workers],
    }
