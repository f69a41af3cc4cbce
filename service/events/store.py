"""The event stream: exactly-once publishing and paging (layout: ``service.keys``).

``EventStore.publish`` is the one way to emit an event; any domain may call
it (``sensor.offline``/``sensor.online`` come from the sensor outboxes,
``site.too_hot`` from the too-hot answer). Publishing is idempotent by
event id, so a caller that retries after a crash, or two callers racing on
the same event, append it once.
"""

from __future__ import annotations

import time
import uuid

import orjson

from .. import keys
from ..metrics import EVENTS_PUBLISHED
from ..redisdb.scripts import Scripts
from ..settings import Settings
from ..timeutil import iso_now

# The types of event the stream carries (webhooks subscribe to them).
EVENT_TYPES = ("sensor.offline", "sensor.online", "site.too_hot")
# How long an event id is remembered as published (retries come much sooner).
PUBLISHED_MEMORY_SECONDS = 7 * 86400
# Most stream entries one GET /v1/events looks at, matching or not.
SCAN_LIMIT = 5000


class EventStore:
    def __init__(self, client, scripts: Scripts, settings: Settings):
        self.client = client
        self.max_len = settings.events_max
        self._publish = scripts.register(__package__, "publish.lua")

    # -- publishing ------------------------------------------------------

    def publish(
        self,
        event_type: str,
        subject: str,
        *,
        org: str = "",
        data: dict | None = None,
        event_id: str | None = None,
        now: float | None = None,
    ) -> str | None:
        """Append an event; returns its stream id, or None if ``event_id``
        was already published.

        The event delivered is ``{id, type, subject, org, at, **data}``.
        Pass a deterministic ``event_id`` (e.g. ``site.too_hot:<site>:<day>``)
        to get exactly once per occurrence; without one a fresh id is made.
        """
        now = time.time() if now is None else now
        event = {
            "id": event_id or uuid.uuid4().hex,
            "type": event_type,
            "subject": subject,
            "org": org or None,
            "at": iso_now(now),
            **(data or {}),
        }
        return self._append(event, subject, org or "", now, watch="", heard="")

    def _append(self, event: dict, subject: str, org: str, now: float, *, watch: str, heard: str) -> str | None:
        stream_id = self._publish(
            keys=[keys.EVENTS_STREAM, keys.EVENTS_PUBLISHED, keys.EVENTS_OFFLINE],
            args=[
                event["id"], event["type"], subject, org, orjson.dumps(event),
                repr(now), PUBLISHED_MEMORY_SECONDS, self.max_len, watch, heard,
            ],
        )
        if not stream_id:
            return None
        EVENTS_PUBLISHED.labels(event["type"]).inc()
        return stream_id.decode()

    def publish_outbox(self, sensor_id: str, entries: list[bytes], now: float | None = None) -> list[dict]:
        """Publish a sensor's claimed transitions in order, then drop them
        from its outbox. Returns the events newly published."""
        now = time.time() if now is None else now
        published = []
        outbox = keys.sensor_outbox(sensor_id)
        for raw in entries:
            entry = orjson.loads(raw)
            event = entry["event"]
            event["org"] = event.get("org") or None
            event["site"] = event.get("site") or None
            watch = event["type"].removeprefix("sensor.")
            if self._append(event, sensor_id, event["org"] or "", now, watch=watch, heard=entry["heard"]):
                published.append(event)
            # Removed only once in the stream: a crash before this line
            # leaves it for the next publisher, whose append is a no-op.
            self.client.lrem(outbox, 1, raw)
        return published

    # -- reading -----------------------------------------------------------

    def page(
        self,
        *,
        types: set[str] | None = None,
        sensor: str | None = None,
        org: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[dict], str | None]:
        """Events newest first, filtered; ``cursor`` continues after the
        last page. Returns (events, next cursor or None at the end)."""
        found: list[dict] = []
        scanned = 0
        upper = f"({cursor}" if cursor else "+"
        chunk = max(limit, 100)
        while scanned < SCAN_LIMIT:
            entries = self.client.xrevrange(keys.EVENTS_STREAM, max=upper, min="-", count=chunk)
            if not entries:
                return found, None
            for stream_id, fields in entries:
                scanned += 1
                upper = "(" + stream_id.decode()
                if types and fields[b"type"].decode() not in types:
                    continue
                if sensor is not None and fields[b"subject"].decode() != sensor:
                    continue
                if org is not None and fields[b"org"].decode() != org:
                    continue
                event = orjson.loads(fields[b"event"])
                event["stream_id"] = stream_id.decode()
                found.append(event)
                if len(found) == limit:
                    return found, stream_id.decode()
            if len(entries) < chunk:
                return found, None
        # Scanned enough for one request: the client continues from here.
        return found, upper[1:]

    def entry(self, stream_id: str) -> dict[bytes, bytes] | None:
        """The stream entry's fields (id, type, org, event), None once trimmed."""
        entries = self.client.xrange(keys.EVENTS_STREAM, min=stream_id, max=stream_id, count=1)
        return entries[0][1] if entries else None

    def get(self, stream_id: str) -> dict | None:
        fields = self.entry(stream_id)
        return None if fields is None else orjson.loads(fields[b"event"])
