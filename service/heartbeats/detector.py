"""Offline and back-online detection, run by every worker every
OFFLINE_CHECK_INTERVAL seconds. Any number of workers may run it at once:
each transition is claimed in Redis exactly once (``status.lua``).

Going offline: a shared watermark says up to which last-heard time every
sensor has been checked. A pass checks the sensors of ``sensors:seen`` last
heard after the watermark and at or before the cutoff (now - OFFLINE_AFTER),
then raises the watermark to the cutoff; a worker that dies mid-pass leaves
it where it was, so the next pass repeats its work (harmless: claims are
idempotent). A pass costs in proportion to the sensors that fell silent
since the last pass, not to all sensors.

Coming back: sensors whose offline event is published are in
``{events}:offline`` with their last-heard time; one heard since (by a
reading: heartbeats flip the status themselves) is checked again.
"""

from __future__ import annotations

import time

from .. import keys
from .store import HeartbeatStore

PAGE = 500


class OfflineDetector:
    def __init__(self, client, store: HeartbeatStore):
        self.client = client
        self.store = store

    def run_once(self, now: float | None = None) -> list[dict]:
        """One detection pass; returns the events this pass published."""
        now = time.time() if now is None else now
        return self._gone_silent(now) + self._back_online(now)

    def _gone_silent(self, now: float) -> list[dict]:
        cutoff = now - self.store.offline_after
        watermark = self.client.zscore(keys.EVENTS_WATERMARK, "offline")
        low = "-inf" if watermark is None else f"({watermark!r}"
        published: list[dict] = []
        while True:
            # Paging by score, not offset: sensors heard meanwhile leave the
            # range, which would shift offsets and skip others.
            page = self.client.zrangebyscore(keys.SENSORS_SEEN, low, cutoff, start=0, num=PAGE, withscores=True)
            if len(page) < PAGE:
                published += self.store.check({m.decode(): score for m, score in page}, now)
                break
            # Sensors of one ingest batch share a score: take the page's last
            # score whole, so the next page starts strictly after it.
            last = page[-1][1]
            tied = self.client.zrangebyscore(keys.SENSORS_SEEN, repr(last), repr(last), withscores=True)
            batch = [(m, score) for m, score in page if score < last] + tied
            published += self.store.check({m.decode(): score for m, score in batch}, now)
            low = f"({last!r}"
        self.client.zadd(keys.EVENTS_WATERMARK, {"offline": cutoff}, gt=True)
        return published

    def _back_online(self, now: float) -> list[dict]:
        published: list[dict] = []
        start = 0
        while True:
            watched = self.client.zrange(keys.EVENTS_OFFLINE, start, start + PAGE - 1, withscores=True)
            if not watched:
                return published
            seen = self.client.zmscore(keys.SENSORS_SEEN, [member for member, _ in watched])
            heard = {
                member.decode(): last for (member, offline_heard), last in zip(watched, seen, strict=True)
                if last is not None and last > offline_heard
            }
            published += self.store.check(heard, now)
            if len(watched) < PAGE:
                return published
            # Sensors coming back leave the set and shift ranks; one skipped
            # here is checked on the next pass.
            start += PAGE
