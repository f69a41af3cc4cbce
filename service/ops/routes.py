"""Probes for Kubernetes and load balancers."""

from __future__ import annotations

import logging

from ..errors import abort
from ..jsonio import Blueprint
from ..redisdb.connection import UNAVAILABLE_ERRORS
from ..stores import stores

blp = Blueprint("ops", __name__, description="Readiness and liveness probes.")
log = logging.getLogger("sensorhub.ops")


@blp.route("/healthz", methods=["GET"])
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
@blp.response(204, description="The process runs.")
def livez():
    """Liveness: 204 while the process runs (Redis is not consulted)"""
