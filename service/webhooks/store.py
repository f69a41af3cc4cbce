"""Webhook registrations, fan-out, leased deliveries and dead letters
(layout: ``service.keys``; every key here shares the tag ``{events}``).

Delivery pipeline, at least once and never lost:

1. The consumer group ``webhooks`` reads new stream entries; ``fanout.lua``
   turns an entry into one pending delivery per matching webhook and acks
   it in one step. An entry read by a worker that died before that stays
   pending and is claimed by another (XAUTOCLAIM).
2. ``lease.lua`` hands due deliveries to one worker for a lease longer
   than the HTTP timeout; a worker dying mid-delivery lets the lease run
   out and another worker delivers again, with the same Idempotency-Key.
3. ``settle.lua`` records the outcome: delivered, retry with exponential
   backoff, or dead letter after WEBHOOK_MAX_ATTEMPTS; dead letters can be
   listed and replayed.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time

import orjson
from redis.exceptions import ResponseError

from .. import keys
from ..events.store import EventStore
from ..redisdb.scripts import Scripts
from ..settings import Settings
from ..timeutil import iso_now
from .delivery import deliver

GROUP = "webhooks"
# An entry pending this long in the group belongs to a consumer that died.
CLAIM_IDLE_MS = 30_000
log = logging.getLogger("sensorhub.webhooks")


class WebhookStore:
    def __init__(self, client, scripts: Scripts, settings: Settings, *, events: EventStore):
        self.client = client
        self.events = events
        self.settings = settings
        self._fanout = scripts.register(__package__, "fanout.lua")
        self._lease = scripts.register(__package__, "lease.lua")
        self._settle = scripts.register(__package__, "settle.lua")
        self._replay = scripts.register(__package__, "replay.lua")

    @property
    def lease_seconds(self) -> float:
        # Connect and read each get the timeout; a margin for the rest.
        return 2 * self.settings.webhook_timeout + 1.0

    # -- registrations -----------------------------------------------------

    def ensure_group(self) -> None:
        """The consumer group exists; new ones start at the stream's end, so
        a webhook receives the events published after it was registered."""
        try:
            self.client.xgroup_create(keys.EVENTS_STREAM, GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def create(self, url: str, secret: str, org: str | None, types: list[str] | None) -> dict:
        self.ensure_group()
        webhook = {
            "id": "wh_" + secrets.token_hex(8),
            "url": url,
            "secret": secret,
            "org": org,
            "types": sorted(set(types)) if types else None,
            "created_at": iso_now(time.time()),
        }
        self.client.hset(keys.WEBHOOKS, webhook["id"], orjson.dumps(webhook))
        return webhook

    def all(self) -> list[dict]:
        webhooks = [orjson.loads(raw) for raw in self.client.hvals(keys.WEBHOOKS)]
        return sorted(webhooks, key=lambda w: (w["created_at"], w["id"]))

    def get(self, webhook_id: str) -> dict | None:
        raw = self.client.hget(keys.WEBHOOKS, webhook_id)
        return orjson.loads(raw) if raw else None

    def delete(self, webhook_id: str) -> bool:
        """Pending deliveries of a deleted webhook are dropped when due."""
        return bool(self.client.hdel(keys.WEBHOOKS, webhook_id))

    # -- step 1: fan-out ---------------------------------------------------

    def fan_out(self, consumer: str, block_ms: int = 1000, count: int = 100) -> int:
        """Read new (and abandoned) stream entries; returns how many were fanned out."""
        entries = []
        claimed = self.client.xautoclaim(keys.EVENTS_STREAM, GROUP, consumer, CLAIM_IDLE_MS, "0-0", count=count)
        entries += claimed[1]
        if not entries:
            reply = self.client.xreadgroup(GROUP, consumer, {keys.EVENTS_STREAM: ">"}, count=count, block=block_ms)
            for _, stream_entries in reply or []:
                entries += stream_entries
        if not entries:
            return 0
        webhooks = self.all()
        now = time.time()
        for stream_id, fields in entries:
            if not fields:  # trimmed away while pending
                matching = []
            else:
                event_type, org = fields[b"type"].decode(), fields[b"org"].decode()
                matching = [
                    w["id"] for w in webhooks
                    if (not w["types"] or event_type in w["types"]) and (not w["org"] or w["org"] == org)
                ]
            self._fanout(keys=[keys.EVENTS_STREAM, keys.WEBHOOK_DELIVERIES], args=[GROUP, stream_id, repr(now), *matching])
        return len(entries)

    # -- steps 2 and 3: leased delivery ------------------------------------

    def deliver_due(self, limit: int = 20, now: float | None = None) -> list[tuple[str, str]]:
        """Lease and attempt due deliveries; returns (delivery, outcome) pairs."""
        now = time.time() if now is None else now
        lease_end = repr(now + self.lease_seconds)
        members = self._lease(keys=[keys.WEBHOOK_DELIVERIES], args=[repr(now), lease_end, limit])
        outcomes = []
        for raw in members:
            member = raw.decode()
            outcomes.append((member, self._attempt(member, lease_end)))
        return outcomes

    def _attempt(self, member: str, lease_end: str) -> str:
        webhook_id, stream_id = member.split(keys.SEPARATOR, 1)
        webhook = self.get(webhook_id)
        fields = self.events.entry(stream_id)
        event_id = ""
        # A dead letter belongs to its event's org (else its webhook's), so that org's keys see it.
        org = (webhook or {}).get("org") or ""
        if webhook is None:
            error = ""  # deleted since: nothing left to deliver to
        elif fields is None:
            error = "the event is no longer in the stream (trimmed by EVENTS_MAX)"
        else:
            event_id = fields[b"id"].decode()
            org = fields[b"org"].decode() or org
            error = deliver(
                webhook["url"], webhook["secret"], event_id, fields[b"type"].decode(), fields[b"event"],
                timeout=self.settings.webhook_timeout, allow_private=self.settings.webhook_allow_private,
            ) or ""
        now = time.time()
        _, state = self._settle(
            keys=[keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_ATTEMPTS, keys.WEBHOOK_DEAD, keys.WEBHOOK_DEAD_INDEX,
                  keys.webhook_dead_index_of(org)],
            args=[member, lease_end, error, repr(now), iso_now(now), self.settings.webhook_max_attempts,
                  self.settings.webhook_retry_base, self.settings.webhook_retry_max, event_id, org],
        )
        state = state.decode()
        if error:
            log.warning("webhook delivery failed", extra={"fields": {"delivery": member, "error": error, "state": state}})
        return state

    # -- dead letters ------------------------------------------------------

    def dead_letters(self, limit: int = 100, org: str | None = None) -> list[dict]:
        """Newest first; with ``org``, only the dead letters of that org's events."""
        index = keys.WEBHOOK_DEAD_INDEX if org is None else keys.webhook_dead_index_of(org)
        members = self.client.zrevrange(index, 0, limit - 1)
        if not members:
            return []
        return [orjson.loads(raw) for raw in self.client.hmget(keys.WEBHOOK_DEAD, members) if raw]

    def dead_letter(self, member: str) -> dict | None:
        raw = self.client.hget(keys.WEBHOOK_DEAD, member)
        return orjson.loads(raw) if raw else None

    def replay(self, member: str) -> bool:
        return bool(self._replay(
            keys=[keys.WEBHOOK_DEAD, keys.WEBHOOK_DEAD_INDEX, keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_ATTEMPTS],
            args=[member, repr(time.time())],
        ))


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
