"""A sensor's history beyond the raw readings: ROLLUPS tiers in Redis
(layout: ``service.keys``; packing: ``rollup.lua`` and ``codec.py``).

The ingest script writes the tiers (it includes ``rollup.lua``); this store
gives it its arguments and reads the tiers back.
"""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

from .. import keys
from ..redisdb.scripts import Scripts
from ..settings import Settings
from .codec import Bucket, decode

# How often a process asks whether the backfill is done (until it is).
BACKFILLED_CHECK_SECONDS = 30.0


class Tier(NamedTuple):
    seconds: int
    keep: int  # seconds a bucket is kept after it ends

    @property
    def us(self) -> int:
        return self.seconds * 1_000_000

    @property
    def chunk_us(self) -> int:
        return self.us * keys.ROLLUP_CHUNK


def duration_name(seconds: int) -> str:
    """3600 -> '1h', 86400 -> '1d', 900 -> '15m' (the largest whole unit)."""
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Segment(NamedTuple):
    """A part of a range and where its readings are: ``source`` is ``raw``
    (every reading) or a tier's name (``1h``: its buckets)."""

    source: str
    tier: Tier | None
    start_us: int
    end_us: int


class RangeTooOld(ValueError):
    """A range reaching before the longest tier keeps."""


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def plan(tiers, start_us: int, end_us: int, now_us: int, retention: int) -> list[Segment]:
    """Which source answers which part of [start, end), oldest first: the
    raw readings from the RETENTION boundary on, each tier from where the
    next finer one stops, without a gap or an overlap. Each boundary is
    aligned on the coarser side's bucket, so no bucket is split: the raw
    part starts on a finest-tier bucket, a tier's part on a bucket of the
    next coarser tier. RangeTooOld when [start, end) reaches before the
    longest tier keeps (without tiers: before RETENTION).
    """
    boundaries = []  # (source, tier, from)
    if tiers:
        boundaries.append(("raw", None, _ceil(now_us - retention * 1_000_000, tiers[0].us)))
        for position, tier in enumerate(tiers):
            align = tiers[position + 1].us if position + 1 < len(tiers) else tier.us
            boundaries.append((duration_name(tier.seconds), tier, _ceil(now_us - tier.keep * 1_000_000, align)))
    else:
        boundaries.append(("raw", None, now_us - retention * 1_000_000))
    oldest = boundaries[-1][2]
    if start_us < oldest:
        raise RangeTooOld(oldest)
    segments = []
    upper = end_us
    for source, tier, lower in boundaries:
        # A finer source whose boundary is older than a coarser one's (a
        # short RETENTION after a long one) never happens: tiers keep longer.
        seg_start, seg_end = max(start_us, lower), upper
        if seg_start < seg_end:
            segments.append(Segment(source, tier, seg_start, seg_end))
        upper = min(upper, lower)
        if upper <= start_us:
            break
    return segments[::-1]


class HistoryStore:
    def __init__(self, client, scripts: Scripts, settings: Settings):
        self.client = client
        self.tiers = tuple(Tier(seconds, keep) for seconds, keep in settings.rollups)
        self._tier_args = [len(self.tiers)]
        for tier in self.tiers:
            self._tier_args += (tier.seconds, tier.keep)
        self._backfilled = False
        self._backfilled_checked = 0.0
        self._lock = threading.Lock()

    # -- ingest -----------------------------------------------------------

    def backfilled(self) -> bool:
        """Whether every bucket hash of readings written before history
        existed is rolled up (asked of Redis every BACKFILLED_CHECK_SECONDS
        until it is; then never again)."""
        if self._backfilled or not self.tiers:
            return True
        now = time.monotonic()
        if now - self._backfilled_checked >= BACKFILLED_CHECK_SECONDS:
            with self._lock:
                if now - self._backfilled_checked >= BACKFILLED_CHECK_SECONDS:
                    self._backfilled = bool(self.client.exists(keys.HISTORY_BACKFILLED))
                    self._backfilled_checked = now
        return self._backfilled

    def ingest_args(self, now: float) -> list:
        """ARGV[4..] of the ingest script: now, chunk size, backfilled, tiers."""
        return [int(now), keys.ROLLUP_CHUNK, 1 if self.backfilled() else 0, *self._tier_args]

    # -- reading ----------------------------------------------------------

    def plan(self, start_us: int, end_us: int, now_us: int, retention: int) -> list[Segment]:
        """``plan`` with this store's tiers."""
        return plan(self.tiers, start_us, end_us, now_us, retention)

    def tier_of(self, seconds: int) -> Tier | None:
        return next((tier for tier in self.tiers if tier.seconds == seconds), None)

    def queue_buckets(self, pipe, sensor_id: str, gen: int | str, tier: Tier, start_us: int, end_us: int) -> int:
        """Queue HGETALL of every chunk of ``tier`` overlapping [start, end);
        returns how many were queued (read the replies with ``buckets``)."""
        first, last = start_us // tier.chunk_us, (end_us - 1) // tier.chunk_us
        for chunk in range(first, last + 1):
            pipe.hgetall(keys.sensor_rollup_chunk(sensor_id, tier.seconds, gen, chunk))
        return last - first + 1

    @staticmethod
    def buckets(tier: Tier, start_us: int, end_us: int, chunk_replies: list) -> list[Bucket]:
        """The buckets starting in [start, end) of the chunks read, in time order."""
        first_chunk = start_us // tier.chunk_us
        found = []
        for position, fields in enumerate(chunk_replies):
            base = (first_chunk + position) * keys.ROLLUP_CHUNK
            for field, packed in fields.items():
                bucket_start = (base + int(field)) * tier.us
                if start_us <= bucket_start < end_us:
                    found.append(decode(packed, bucket_start, tier.us))
        found.sort()
        return found

    def read(self, sensor_id: str, tier: Tier, start_us: int, end_us: int) -> list[Bucket]:
        """The sensor's buckets of ``tier`` starting in [start, end), in time order."""
        gen = self.client.hget(keys.sensor(sensor_id), keys.SensorStats.GEN) or b"0"
        pipe = self.client.pipeline(transaction=False)
        self.queue_buckets(pipe, sensor_id, gen.decode(), tier, start_us, end_us)
        return self.buckets(tier, start_us, end_us, pipe.execute())
