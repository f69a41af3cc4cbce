"""GET /v1/events: the event log, newest first."""

from __future__ import annotations

from ..auth import listing_org, requires
from ..jsonio import Blueprint
from ..stores import stores
from .schemas import EventPageSchema, EventQuerySchema

blp = Blueprint("events", __name__, description="Events: sensors going offline and online, sites too hot.")


@blp.route("/v1/events", methods=["GET"])
@requires("read")
@blp.arguments(EventQuerySchema, location="query")
@blp.response(200, EventPageSchema)
@blp.alt_response(422, description="Invalid filter or cursor")
@blp.alt_response(503, description="Redis not answering")
def list_events(query: dict):
    """Events, newest first, filtered by type, sensor and org"""
    events, next_cursor = stores().events.page(
        types=set(query["type"]) if query.get("type") else None,
        sensor=query.get("sensor"),
        org=listing_org(query.get("org")),
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return {"events": events, "next_cursor": next_cursor}
