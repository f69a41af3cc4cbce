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
   It is fair: at most WEBHOOK_ENDPOINT_CONCURRENCY deliveries of one
   webhook are in flight, and none while its circuit is open, so a slow
   or dead receiver delays only its own deliveries (``pool.py`` delivers
   them concurrently in the worker).
3. ``settle.lua`` records the outcome: delivered, retry with exponential
   backoff, or dead letter after WEBHOOK_MAX_ATTEMPTS (or, held back by an
   open circuit, once older than those attempts would have taken); dead
   letters can be listed, replayed and discarded. It also keeps the
   webhook's circuit breaker: WEBHOOK_CIRCUIT_FAILURES consecutive failures
   open it.

A dead letter belongs to its webhook: an org's keys see those of the org's
webhooks (``{events}:dead:index:<org>``), all-orgs keys every one; deleting
a webhook deletes its dead letters.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from enum import Enum
from typing import NamedTuple

import orjson
from redis.exceptions import ResponseError

from .. import keys
from ..events.store import EventStore
from ..metrics import WEBHOOK_CIRCUIT_OPEN, WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from ..redisdb.scripts import Scripts
from ..settings import Settings
from ..timeutil import iso_now
from .delivery import deliver

GROUP = "webhooks"
# An entry pending this long in the group belongs to a consumer that died.
CLAIM_IDLE_MS = 30_000
# Webhooks with due deliveries one lease looks at, earliest due first:
# enough to reach past those at their bound.
LEASE_SCAN = 1000
# Dead letters one step of a webhook's deletion discards.
DEAD_LETTER_PAGE = 1000
log = logging.getLogger("sensorhub.webhooks")


class Lease(NamedTuple):
    """A delivery leased to this worker until ``lease_end`` (as written to
    Redis); ``give_up``: held back by an open circuit past its age, to be
    settled as a dead letter without an attempt."""

    member: str
    lease_end: str
    give_up: bool = False


class Replay(Enum):
    """Outcome of replaying a dead letter."""

    QUEUED = 1
    NO_DEAD_LETTER = 0
    WEBHOOK_GONE = -1

    def __bool__(self) -> bool:
        return self is Replay.QUEUED


class WebhookStore:
    def __init__(self, client, scripts: Scripts, settings: Settings, *, events: EventStore):
        self.client = client
        self.events = events
        self.settings = settings
        self._fanout = scripts.register(__package__, "fanout.lua")
        self._lease = scripts.register(__package__, "lease.lua")
        self._settle = scripts.register(__package__, "settle.lua")
        self._replay = scripts.register(__package__, "replay.lua")
        self._adopt = scripts.register(__package__, "adopt.lua")
        self._discard = scripts.register(__package__, "discard.lua")

    @property
    def lease_seconds(self) -> float:
        # Connect and read each get the timeout; a margin for the rest.
        return 2 * self.settings.webhook_timeout + 1.0

    @property
    def max_age(self) -> float:
        """How long a delivery held back by an open circuit may wait before
        it is a dead letter: what its retries would have taken at most."""
        s = self.settings
        return sum(min(s.webhook_retry_base * 2 ** (n - 1), s.webhook_retry_max)
                   for n in range(1, s.webhook_max_attempts))

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

    def orgs_of(self, webhook_ids) -> dict[str, str | None]:
        """The org of each of these webhooks that exists (None: all orgs)."""
        ids = list(dict.fromkeys(webhook_ids))
        if not ids:
            return {}
        found = self.client.hmget(keys.WEBHOOKS, ids)
        return {webhook_id: orjson.loads(raw).get("org") for webhook_id, raw in zip(ids, found, strict=True) if raw}

    def delete(self, webhook_id: str) -> bool:
        """Delete the webhook and its dead letters. Its pending deliveries
        are dropped when due, and one failing meanwhile is not dead-lettered
        (``settle.lua``), so none appears after the sweep."""
        deleted = bool(self.client.hdel(keys.WEBHOOKS, webhook_id))
        if deleted:
            self.client.delete(keys.webhook_circuit(webhook_id))
            self.discard_dead_letters_of(webhook_id)
        return deleted

    def circuit(self, webhook_id: str) -> dict:
        """The webhook's circuit breaker: ``state`` closed, open or half-open
        (its cool-down is over: one trial delivery at a time), consecutive
        ``failures``, ``open_until`` (s) and the last ``error``."""
        raw = {k.decode(): v.decode() for k, v in self.client.hgetall(keys.webhook_circuit(webhook_id)).items()}
        field = keys.WebhookCircuit
        open_until = float(raw[field.OPEN_UNTIL]) if field.OPEN_UNTIL in raw else None
        if open_until is None:
            state = "closed"
        else:
            state = "open" if open_until > time.time() else "half-open"
        return {"state": state, "failures": int(raw.get(field.FAILURES, 0)), "open_until": open_until,
                "error": raw.get(field.ERROR)}

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
            self._fanout(keys=[keys.EVENTS_STREAM, keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_SINCE, keys.WEBHOOK_QUEUE,
                               keys.WEBHOOK_READY],
                         args=[GROUP, stream_id, repr(now), *matching])
        return len(entries)

    # -- steps 2 and 3: leased delivery ------------------------------------

    def adopt_pending(self, page: int = 1000) -> int:
        """Queue by webhook the pending deliveries that are not (written
        before the queues existed); returns how many. Run at worker start."""
        added, start = 0, 0
        while members := self.client.zrange(keys.WEBHOOK_DELIVERIES, start, start + page - 1):
            added += self._adopt(keys=[keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_QUEUE, keys.WEBHOOK_READY], args=members)
            start += page
        return added

    def lease_due(self, limit: int = 20, now: float | None = None) -> list[Lease]:
        """Lease up to ``limit`` due deliveries, fairly (``lease.lua``);
        each is to be settled by ``attempt``, within its lease."""
        now = time.time() if now is None else now
        lease_end = repr(now + self.lease_seconds)
        leased, expired = self._lease(
            keys=[keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_SINCE, keys.WEBHOOK_INFLIGHT, keys.WEBHOOK_CIRCUIT,
                  keys.WEBHOOK_QUEUE, keys.WEBHOOK_READY],
            args=[repr(now), lease_end, limit, LEASE_SCAN, self.settings.webhook_endpoint_concurrency,
                  repr(self.max_age)],
        )
        return ([Lease(raw.decode(), lease_end) for raw in leased]
                + [Lease(raw.decode(), lease_end, give_up=True) for raw in expired])

    def deliver_due(self, limit: int = 20, now: float | None = None) -> list[tuple[str, str]]:
        """Lease and attempt due deliveries one after the other; returns
        (delivery, outcome) pairs. The worker attempts them concurrently
        instead (``pool.DeliveryPool``)."""
        return [(lease.member, self.attempt(lease)) for lease in self.lease_due(limit, now)]

    def attempt(self, lease: Lease) -> str:
        """Attempt one leased delivery and settle it; returns its state:
        delivered, retry, dead, dropped (its webhook was deleted) or stale."""
        member = lease.member
        webhook_id, stream_id = member.split(keys.SEPARATOR, 1)
        webhook = self.get(webhook_id)
        fields = self.events.entry(stream_id)
        event_id = ""
        kind = "local"
        # A dead letter records its event's org (else its webhook's); it is
        # listed to the keys of its webhook's org (all-orgs keys: to those only).
        webhook_org = (webhook or {}).get("org") or ""
        org = webhook_org
        if fields is not None:
            event_id = fields[b"id"].decode()
            org = fields[b"org"].decode() or org
        if webhook is None:
            error = ""  # deleted since: nothing left to deliver to
        elif lease.give_up:
            kind = "giveup"
            last = self.client.hget(keys.webhook_circuit(webhook_id), "error")
            error = (f"the receiver kept failing (circuit open) for longer than {self.max_age:g} s of retries"
                     + (f"; last error: {last.decode()}" if last else ""))
        elif fields is None:
            error = "the event is no longer in the stream (trimmed by EVENTS_MAX)"
        else:
            kind = "http"
            started = time.perf_counter()
            error = deliver(
                webhook["url"], webhook["secret"], event_id, fields[b"type"].decode(), fields[b"event"],
                timeout=self.settings.webhook_timeout, allow_private=self.settings.webhook_allow_private,
            ) or ""
            WEBHOOK_LATENCY.labels(webhook_id).observe(time.perf_counter() - started)
        now = time.time()
        s = self.settings
        _, state, circuit = self._settle(
            keys=[keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_ATTEMPTS, keys.WEBHOOK_DEAD, keys.WEBHOOK_DEAD_INDEX,
                  keys.webhook_dead_index_of(webhook_org), keys.WEBHOOK_SINCE, keys.webhook_inflight(webhook_id),
                  keys.webhook_circuit(webhook_id), keys.webhook_queue(webhook_id), keys.WEBHOOK_READY,
                  keys.WEBHOOKS],
            args=[member, lease.lease_end, error, repr(now), iso_now(now), s.webhook_max_attempts,
                  s.webhook_retry_base, s.webhook_retry_max, event_id, org, kind, s.webhook_circuit_failures,
                  s.webhook_circuit_cooldown, webhook_org],
        )
        state, circuit = state.decode(), circuit.decode()
        WEBHOOK_DELIVERIES.labels(state).inc()
        if circuit:
            WEBHOOK_CIRCUIT_OPEN.labels(webhook_id).set(1 if circuit == "open" else 0)
        if error:
            log.warning("webhook delivery failed", extra={"fields": {
                "delivery": member, "error": error, "state": state, "circuit": circuit or None}})
        return state

    # -- dead letters ------------------------------------------------------

    def dead_letters(self, limit: int = 100, org: str | None = None) -> list[dict]:
        """Newest first, each with ``webhook_deleted``; with ``org``, only
        the dead letters of that org's webhooks.

        The org's index may also hold dead letters of all-orgs webhooks
        (indexed by their event's org before they were indexed by
        webhook): those are skipped, and taken out of it.
        """
        index = keys.WEBHOOK_DEAD_INDEX if org is None else keys.webhook_dead_index_of(org)
        listed: dict[str, dict] = {}  # by id: pages read while the index changes may overlap
        start = 0
        while len(listed) < limit:
            members = self.client.zrevrange(index, start, start + limit - len(listed) - 1)
            if not members:
                break
            start += len(members)
            letters = [orjson.loads(raw) for raw in self.client.hmget(keys.WEBHOOK_DEAD, members) if raw]
            orgs = self.orgs_of(letter["webhook"] for letter in letters)
            misplaced = []
            for letter in letters:
                deleted = letter["webhook"] not in orgs
                if org is not None and (deleted or orgs[letter["webhook"]] != org):
                    if not deleted:  # a webhook's org never changes: never this org's
                        misplaced.append(letter["id"])
                    continue  # (a deleted webhook's org is unknown: for all-orgs keys only)
                listed[letter["id"]] = {**letter, "webhook_deleted": deleted}
            if misplaced:
                self.client.zrem(index, *misplaced)
                start -= len(misplaced)
        return list(listed.values())[:limit]

    def dead_letter(self, member: str) -> dict | None:
        raw = self.client.hget(keys.WEBHOOK_DEAD, member)
        return orjson.loads(raw) if raw else None

    def replay(self, member: str, now: float | None = None) -> Replay:
        """Queue a dead letter for delivery again, due now (``replay.lua``)."""
        now = time.time() if now is None else now
        webhook_id = member.split(keys.SEPARATOR, 1)[0]
        return Replay(self._replay(
            keys=[keys.WEBHOOK_DEAD, keys.WEBHOOK_DEAD_INDEX, keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_ATTEMPTS,
                  keys.WEBHOOK_SINCE, keys.webhook_queue(webhook_id), keys.WEBHOOK_READY, keys.WEBHOOKS],
            args=[member, repr(now), webhook_id],
        ))

    def discard(self, *members: str) -> int:
        """Discard dead letters; returns how many there were."""
        if not members:
            return 0
        return self._discard(keys=[keys.WEBHOOK_DEAD, keys.WEBHOOK_DEAD_INDEX], args=list(members))

    def discard_dead_letters_of(self, webhook_id: str) -> int:
        """Discard every dead letter of the webhook; returns how many."""
        discarded = 0
        found = self.client.hscan_iter(keys.WEBHOOK_DEAD, match=keys.webhook_dead_letters_pattern(webhook_id),
                                       count=DEAD_LETTER_PAGE)
        batch: list[str] = []
        for member, _ in found:
            batch.append(member.decode())
            if len(batch) == DEAD_LETTER_PAGE:
                discarded += self.discard(*batch)
                batch = []
        return discarded + self.discard(*batch)


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
