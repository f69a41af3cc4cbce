"""Webhooks: receivers of events, and their dead letters."""

from __future__ import annotations

import re
import time

from ..auth import listing_org, principal, require_org, requires
from ..errors import abort
from ..jsonio import Blueprint
from ..stores import stores
from ..timeutil import iso_now
from .schemas import (
    DeadLetterListSchema,
    DeadLetterQuerySchema,
    DeadLetterReplaySchema,
    WebhookCreateSchema,
    WebhookListSchema,
    WebhookSchema,
)
from .ssrf import ForbiddenTarget, check_url
from .store import Replay

blp = Blueprint("webhooks", __name__, description="Webhooks: events delivered at least once, signed.")

_WEBHOOK_ID = re.compile(r"wh_[0-9a-f]{16}").fullmatch
_DEAD_LETTER_ID = re.compile(r"wh_[0-9a-f]{16}:[0-9]{1,20}-[0-9]{1,20}").fullmatch


def _store():
    return stores().webhooks


@blp.route("/v1/webhooks", methods=["POST"])
@requires("admin")
@blp.arguments(WebhookCreateSchema)
@blp.response(201, WebhookSchema, description="Registered; it receives events published from now on.")
@blp.alt_response(422, description="Invalid fields, or a receiver on a loopback, link-local or private address")
def create_webhook(body: dict):
    """Register a webhook"""
    try:
        check_url(body["url"], stores().settings.webhook_allow_private)
    except ForbiddenTarget as exc:
        abort(422, str(exc), errors={"json": {"url": [str(exc)]}})
    # An org key's webhook hears its own org's events only.
    org = body["org"] if principal().all_orgs else listing_org(body["org"])
    return _store().create(body["url"], body["secret"], org, body["types"])


@blp.route("/v1/webhooks", methods=["GET"])
@requires("admin")
@blp.response(200, WebhookListSchema)
def list_webhooks():
    """All webhooks (secrets are never returned)"""
    who = principal()
    return {"webhooks": [webhook for webhook in _store().all() if who.can_access_org(webhook.get("org"))]}


@blp.route("/v1/webhooks/<webhook_id>", methods=["GET"])
@requires("admin")
@blp.response(200, WebhookSchema)
@blp.alt_response(404, description="No such webhook")
def get_webhook(webhook_id: str):
    """One webhook"""
    webhook = _store().get(webhook_id) if _WEBHOOK_ID(webhook_id) else None
    if webhook is None:
        abort(404, f"No webhook {webhook_id!r}.")
    require_org(webhook.get("org"), f"No webhook {webhook_id!r}.")
    return webhook


@blp.route("/v1/webhooks/<webhook_id>", methods=["DELETE"])
@requires("admin")
@blp.response(204, description="Deleted, with its dead letters; its pending deliveries are dropped.")
@blp.alt_response(404, description="No such webhook")
def delete_webhook(webhook_id: str):
    """Delete a webhook"""
    missing = f"No webhook {webhook_id!r}."
    webhook = _store().get(webhook_id) if _WEBHOOK_ID(webhook_id) else None
    if webhook is None:
        abort(404, missing)
    require_org(webhook.get("org"), missing)
    if not _store().delete(webhook_id):
        abort(404, missing)  # deleted meanwhile


@blp.route("/v1/webhooks/dead-letters", methods=["GET"])
@requires("admin")
@blp.arguments(DeadLetterQuerySchema, location="query")
@blp.response(200, DeadLetterListSchema)
def list_dead_letters(query: dict):
    """Deliveries that failed WEBHOOK_MAX_ATTEMPTS times, newest first

    A key sees the dead letters of the webhooks it sees: an org key those
    of its org's webhooks; an all-orgs key every one, also those whose
    webhook is gone (``webhook_deleted``).
    """
    return {"dead_letters": _store().dead_letters(query["limit"], org=principal().org_filter)}


def _visible_dead_letter(dead_letter_id: str) -> dict:
    """The dead letter, if the key sees its webhook (a deleted webhook's: if
    it reaches all orgs); else 404 as for a missing one."""
    missing = f"No dead letter {dead_letter_id!r}."
    dead = _store().dead_letter(dead_letter_id) if _DEAD_LETTER_ID(dead_letter_id) else None
    if dead is None:
        abort(404, missing)
    require_org(_store().orgs_of([dead["webhook"]]).get(dead["webhook"]), missing)
    return dead


@blp.route("/v1/webhooks/dead-letters/<dead_letter_id>/replay", methods=["POST"])
@requires("admin")
@blp.response(202, DeadLetterReplaySchema, description="Queued for delivery again now, attempts reset.")
@blp.alt_response(404, description="No such dead letter (or one of a webhook the key does not see)")
@blp.alt_response(410, description="Its webhook was deleted: nothing to deliver it to; the dead letter is kept")
def replay_dead_letter(dead_letter_id: str):
    """Replay a dead letter"""
    dead = _visible_dead_letter(dead_letter_id)
    now = time.time()
    outcome = _store().replay(dead_letter_id, now)
    if outcome is Replay.NO_DEAD_LETTER:
        abort(404, f"No dead letter {dead_letter_id!r}.")  # replayed or discarded meanwhile
    if outcome is Replay.WEBHOOK_GONE:
        abort(410, f"The webhook {dead['webhook']!r} of dead letter {dead_letter_id!r} was deleted: there is "
                   f"nothing to deliver it to. The dead letter is kept; discard it with "
                   f"DELETE /v1/webhooks/dead-letters/{dead_letter_id}.")
    return {"id": dead_letter_id, "webhook": dead["webhook"], "event_id": dead["event_id"], "queued_at": iso_now(now)}


@blp.route("/v1/webhooks/dead-letters/<dead_letter_id>", methods=["DELETE"])
@requires("admin")
@blp.response(204, description="Discarded: never delivered.")
@blp.alt_response(404, description="No such dead letter (or one of a webhook the key does not see)")
def discard_dead_letter(dead_letter_id: str):
    """Discard a dead letter"""
    _visible_dead_letter(dead_letter_id)
    if not _store().discard(dead_letter_id):
        abort(404, f"No dead letter {dead_letter_id!r}.")  # replayed or discarded meanwhile
