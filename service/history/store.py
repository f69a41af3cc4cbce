"""A sensor's history beyond the raw readings: ROLLUPS tiers in Redis
(layout: ``service.keys``; packing: ``rollup.lua`` and ``codec.py``).

The ingest script writes the tiers (it includes ``rollup.lua``); this store
gives it its arguments and reads the tiers back.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from redis.cluster import RedisCluster

from .. import keys
from ..redisdb.scripts import ScriptBatch, Scripts
from ..settings import Settings
from .codec import Bucket, decode
from .rendered import SHARED_SECONDS, RenderedChunk, RenderedChunks

# A bucket hash of readings around now waits this long after it ends before
# the worker rolls it up whole (seal.lua): readings that arrive by then cost
# ingest nothing more; later ones roll up in the call that accepts them.
DEFER_SECONDS = 3600
# How long a process keeps the sealing horizon it read (queries switch from
# the tiers to the raw readings there).
SEALED_CACHE_SECONDS = 5.0
# Sensors one seal call handles (pipelined in one round trip).
SEAL_BATCH = 500
log = logging.getLogger("sensorhub.history")
# Keys a backfill step asks SCAN to look at (bucket hashes rolled up per step
# are at most as many; each is one script call of a few hundred readings).
BACKFILL_SCAN_COUNT = 1000
# Fields of keys.HISTORY_BACKFILL: buckets rolled up so far (by every
# worker); the other fields are scan cursors, one per node ("done" once its
# scan has ended).
BACKFILL_ROLLED = "rolled"
BACKFILL_DONE = "done"
# Field name of the one scan cursor of a single Redis.
BACKFILL_SINGLE = "cursor"
# Cleared generations a reclaim step deletes the history of.
RECLAIM_BATCH = 50
_VERSION = keys.ROLLUP_VERSION_FIELD.encode()


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


def oldest_reachable(tiers, now_us: int, retention: int) -> int:
    """The oldest instant (us) a query can reach at ``now_us``: where the
    longest tier stops keeping (plan's last boundary), without tiers the
    RETENTION boundary. A reading older than this no window, series or
    history query will ever show."""
    if not tiers:
        return now_us - retention * 1_000_000
    return _ceil(now_us - tiers[-1].keep * 1_000_000, tiers[-1].us)


def plan(tiers, start_us: int, end_us: int, now_us: int, retention: int, raw_from: int | None = None) -> list[Segment]:
    """Which source answers which part of [start, end), oldest first: the
    raw readings from the RETENTION boundary on, each tier from where the
    next finer one stops, without a gap or an overlap. Each boundary is
    aligned on the coarser side's bucket, so no bucket is split: the raw
    part starts on a finest-tier bucket, a tier's part on a bucket of the
    next coarser tier. RangeTooOld when [start, end) reaches before the
    longest tier keeps (without tiers: before RETENTION). ``raw_from``:
    where the tiers stop holding every reading (the sealing horizon), if
    the raw readings must reach back further than RETENTION.
    """
    boundaries = []  # (source, tier, from)
    if tiers:
        raw_start = _ceil(now_us - retention * 1_000_000, tiers[0].us)
        if raw_from is not None:
            raw_start = min(raw_start, raw_from // tiers[0].us * tiers[0].us)
        boundaries.append(("raw", None, raw_start))
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
        self.raw_us = settings.bucket_seconds * 1_000_000
        # Bucket hashes of readings live this long after their last new reading.
        self.raw_ttl = max(settings.dedup_ttl, settings.retention)
        self._tier_args = [len(self.tiers)]
        for tier in self.tiers:
            self._tier_args += (tier.seconds, tier.keep)
        self._seal = scripts.register(__package__, "seal.lua")
        self._sealed: tuple[float, int | None] = (float("-inf"), None)
        self.cluster = isinstance(client, RedisCluster)
        self._backfill_args = [self.raw_us, None, keys.ROLLUP_CHUNK, self.raw_ttl, *self._tier_args]
        self._backfill = scripts.register(__package__, "backfill.lua")
        self._backfill_loaded = False
        self._versions = scripts.register(__package__, "versions.lua")
        self.rendered = RenderedChunks(settings.series_cache_mb * 2**20)

    # -- ingest and sealing -----------------------------------------------

    def ingest_args(self, now: float) -> list:
        """ARGV[4..] of the ingest script: now, chunk size, the deferred
        zone (from DEFER_SECONDS before now to the next bucket), tiers."""
        now_us = int(now * 1_000_000)
        return [int(now), keys.ROLLUP_CHUNK, now_us - DEFER_SECONDS * 1_000_000, now_us + self.raw_us,
                *self._tier_args]

    def horizon(self, now: float) -> int:
        """Bucket number below which bucket hashes are sealable at ``now``."""
        return (int(now * 1_000_000) - DEFER_SECONDS * 1_000_000) // self.raw_us

    def sealed_through(self) -> int | None:
        """Where the tiers end and the raw readings take over (us: the start
        of the sealing horizon's bucket; None: nothing sealed yet, the raw
        readings answer all they hold)."""
        checked, value = self._sealed
        now = time.monotonic()
        if now - checked < SEALED_CACHE_SECONDS:
            return value
        found = self.client.hget(keys.HISTORY_SEALED, "horizon")
        value = int(found) * self.raw_us if found else None
        self._sealed = (now, value)
        return value

    def seal_step(self, now: float | None = None) -> int:
        """Roll up every bucket hash that waited and is now sealable, for
        every sensor heard since the last completed pass could have left
        one (``sensors:seen``); then record the new horizon. Returns the
        bucket hashes rolled up. Idempotent: any number of workers may run
        it; an interrupted pass is simply done again."""
        if not self.tiers:
            return 0
        now = time.time() if now is None else now
        horizon = self.horizon(now)
        state = self.client.hget(keys.HISTORY_SEALED, "horizon")
        previous = int(state) if state else None
        if previous is not None and previous >= horizon:
            return 0
        # A waiting bucket hash starts before the next bucket of the moment
        # its reading arrived: its sensor was heard at most two buckets
        # before the horizon that seals it (one more for clocks).
        if previous is None:
            since = now - self.raw_ttl
        else:
            since = (previous * self.raw_us - 3 * self.raw_us) / 1_000_000
        longest = max(tier.seconds + tier.keep for tier in self.tiers)
        oldest = (int(now * 1_000_000) - longest * 1_000_000) // self.raw_us
        args = [self.raw_us, horizon, oldest, int(now), keys.ROLLUP_CHUNK, self.raw_ttl, *self._tier_args]
        # ZSCAN, not pages by rank: a sensor heard again during the pass
        # moves in the order, which would make a page skip another.
        sealed, cursor = 0, 0
        while True:
            cursor, found = self.client.zscan(keys.SENSORS_SEEN, cursor, count=SEAL_BATCH)
            batch = ScriptBatch(self.client)
            for sensor, heard in found:
                if heard >= since:
                    batch.script(self._seal, [keys.sensor(sensor.decode())], args)
            sealed += sum(batch.execute())
            if cursor == 0:
                break
        self.client.hset(keys.HISTORY_SEALED, "horizon", horizon)
        return sealed

    # -- reading ----------------------------------------------------------

    def plan(self, start_us: int, end_us: int, now_us: int, retention: int) -> list[Segment]:
        """``plan`` with this store's tiers, the raw readings reaching back
        to where the tiers are sealed if that is further than RETENTION."""
        through = self.sealed_through()
        reach = now_us - self.raw_ttl * 1_000_000 if through is None else through
        return plan(self.tiers, start_us, end_us, now_us, retention, raw_from=reach)

    def tier_of(self, seconds: int) -> Tier | None:
        return next((tier for tier in self.tiers if tier.seconds == seconds), None)

    def queue_buckets(self, pipe, sensor_id: str, gen: int | str, tier: Tier, start_us: int, end_us: int) -> int:
        """Queue HGETALL of every chunk of ``tier`` overlapping [start, end);
        returns how many were queued (read the replies with ``buckets``)."""
        first, last = start_us // tier.chunk_us, (end_us - 1) // tier.chunk_us
        for chunk in range(first, last + 1):
            pipe.hgetall(keys.sensor_rollup_chunk(sensor_id, tier.seconds, gen, chunk))
        return last - first + 1

    def queue_versions(self, batch: ScriptBatch, sensor_id: str, gen: int | str, tier: Tier, start_us: int,
                       end_us: int) -> int:
        """Queue the versions of the chunks of ``tier`` overlapping
        [start, end) (one reply, the list ``rendered_points`` takes); returns 1."""
        first, last = start_us // tier.chunk_us, (end_us - 1) // tier.chunk_us
        batch.script(self._versions, [keys.sensor_rollup_chunk(sensor_id, tier.seconds, gen, chunk)
                                      for chunk in range(first, last + 1)], [])
        return 1

    def rendered_points(self, sensor_id: str, gen: int | str, tier: Tier, start_us: int, end_us: int,
                        versions: list, unit: str | None, render) -> list:
        """The points of ``tier``'s buckets starting in [start, end), one
        per bucket, as JSON fragments: ``render(start, count, exact sum, min,
        max)`` of each, from the copies of the chunks kept at ``versions``
        (``queue_versions``), the others read (one round trip) and rendered."""
        first_chunk = start_us // tier.chunk_us
        cache_keys = [(sensor_id, tier.seconds, str(gen), first_chunk + i, unit) for i in range(len(versions))]
        chunks = [self.rendered.get(key, version) for key, version in zip(cache_keys, versions, strict=True)]
        missing = [i for i, chunk in enumerate(chunks) if chunk is None and versions[i] is not None]
        if missing and self.rendered.enabled:
            # Copies another process rendered (kept in Redis for a while).
            pipe = self.client.pipeline(transaction=False)
            for i in missing:
                pipe.get(keys.sensor_rendered_chunk(sensor_id, tier.seconds, gen, first_chunk + i, unit))
            for i, packed in zip(missing, pipe.execute(), strict=True):
                shared = RenderedChunk.unpacked(packed) if packed else None
                if shared is not None and shared.version == versions[i]:
                    chunks[i] = shared
                    self.rendered.put(cache_keys[i], shared)
            missing = [i for i in missing if chunks[i] is None]
        if missing:
            pipe = self.client.pipeline(transaction=False)
            for i in missing:
                pipe.hgetall(keys.sensor_rollup_chunk(sensor_id, tier.seconds, gen, first_chunk + i))
            share = self.client.pipeline(transaction=False)
            for i, fields in zip(missing, pipe.execute(), strict=True):
                base_us = (first_chunk + i) * tier.chunk_us
                found = self.buckets(tier, base_us, base_us + tier.chunk_us, [fields])
                chunks[i] = RenderedChunk.of(fields.get(_VERSION, b""),
                                             [(b.start_us, render(b.start_us, b.count, b.sum, b.min, b.max))
                                              for b in found])
                if self.rendered.enabled and chunks[i].version:
                    self.rendered.put(cache_keys[i], chunks[i])
                    share.set(keys.sensor_rendered_chunk(sensor_id, tier.seconds, gen, first_chunk + i, unit),
                              chunks[i].packed(), ex=SHARED_SECONDS)
            if len(share):
                share.execute()
        return [point for chunk in chunks if chunk is not None for point in chunk.between(start_us, end_us)]

    @staticmethod
    def buckets(tier: Tier, start_us: int, end_us: int, chunk_replies: list) -> list[Bucket]:
        """The buckets starting in [start, end) of the chunks read, in time order."""
        first_chunk = start_us // tier.chunk_us
        found = []
        for position, fields in enumerate(chunk_replies):
            base = (first_chunk + position) * keys.ROLLUP_CHUNK
            for field, packed in fields.items():
                if field == _VERSION:
                    continue
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

    # -- background work --------------------------------------------------

    def backfill_step(self, count: int = BACKFILL_SCAN_COUNT, now: float | None = None) -> bool:
        """One step of rolling up the bucket hashes of readings written
        before history existed: one SCAN page of one node (every primary of
        a cluster, one after the other), each bucket hash found rolled up by
        ``backfill.lua`` (whole, once: it skips a marked or orphaned hash).
        Resumable (the cursors are kept in ``history:backfill``) and
        idempotent, so any number of workers may run it. When every node's
        scan has ended, sets ``history:backfilled``: from then on ingest
        rolls up every new reading. True while steps remain; once done it
        costs one EXISTS."""
        if not self.tiers or self.client.exists(keys.HISTORY_BACKFILLED):
            return False
        state = {field.decode(): value.decode() for field, value in self.client.hgetall(keys.HISTORY_BACKFILL).items()}
        pending = [(name, node) for name, node in self._scan_nodes() if state.get(name) != BACKFILL_DONE]
        if not pending:
            self.client.set(keys.HISTORY_BACKFILLED, 1)
            self.client.delete(keys.HISTORY_BACKFILL)
            log.info("history backfill done", extra={"fields": {"buckets": int(state.get(BACKFILL_ROLLED, 0))}})
            return False
        name, node = pending[0]
        cursor, found = self._scan(node, int(state.get(name, 0)), count)
        rolled = self._roll_up(found, time.time() if now is None else now)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(keys.HISTORY_BACKFILL, name, cursor or BACKFILL_DONE)
        pipe.hincrby(keys.HISTORY_BACKFILL, BACKFILL_ROLLED, rolled)
        so_far = pipe.execute()[1]
        log.info("history backfill", extra={"fields": {"node": name, "buckets": so_far, "step": rolled, "scanned": len(found)}})
        return True

    def _scan_nodes(self) -> list[tuple[str, object]]:
        """(name, node) of each node to scan: every primary of a cluster
        (a new primary after a failover starts its scan afresh: rolling up
        is idempotent), else the one Redis."""
        if not self.cluster:
            return [(BACKFILL_SINGLE, None)]
        return sorted((node.name, node) for node in self.client.get_primaries())

    def _scan(self, node, cursor: int, count: int) -> tuple[int, list]:
        if node is None:
            return self.client.scan(cursor, match=keys.SENSOR_BUCKETS_PATTERN, count=count)
        cursors, found = self.client.scan(cursor, match=keys.SENSOR_BUCKETS_PATTERN, count=count, target_nodes=node)
        return cursors[node.name], found

    def _roll_up(self, bucket_keys: list, now: float) -> int:
        """Run ``backfill.lua`` on each bucket hash, in one round trip;
        returns how many it rolled up (those not rolled up before)."""
        args = list(self._backfill_args)
        args[1] = int(now)
        if not self._backfill_loaded:
            # Loaded once up front (on every primary of a cluster): else the
            # first page's calls would each meet NOSCRIPT and be sent again
            # with the script's whole text.
            self.client.script_load(self._backfill.script)
            self._backfill_loaded = True
        batch = ScriptBatch(self.client)
        for key in bucket_keys:
            parsed = keys.parse_sensor_bucket(key)
            if parsed is not None:
                batch.script(self._backfill, [key, keys.sensor(parsed[0])], args)
        return sum(1 for readings in batch.execute() if readings)

    def reclaim_step(self, now: float | None = None) -> bool:
        """Delete the history tiers of generations that a DELETE cleared
        (members ``<sensor> <gen>`` of ``history:reclaim``): every chunk that
        may still exist, from the oldest a tier keeps to one chunk ahead, in
        one UNLINK per generation (its keys share the sensor's hash tag).
        Idempotent; True when it found work (more may wait)."""
        members = self.client.srandmember(keys.HISTORY_RECLAIM, RECLAIM_BATCH)
        if not members:
            return False
        now_s = int(time.time() if now is None else now)
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            sensor_id, _, gen = member.decode().rpartition(" ")
            chunks = self.orphaned_chunks(sensor_id, gen, now_s)
            if chunks:
                # Sent as a plain command: a cluster pipeline refuses its
                # multi-key ``unlink`` helper, but routes UNLINK by its keys
                # (one slot: they share the sensor's hash tag).
                pipe.execute_command("UNLINK", *chunks)
        pipe.srem(keys.HISTORY_RECLAIM, *members)
        pipe.execute()
        log.info("history reclaimed", extra={"fields": {"generations": len(members)}})
        return True

    def orphaned_chunks(self, sensor_id: str, gen: int | str, now: int) -> list[str]:
        """Every chunk key of the sensor's tiers in ``gen`` that may exist
        at ``now``: chunks covering [now - keep - one chunk, now + one chunk]."""
        found = []
        for tier in self.tiers:
            chunk_seconds = tier.seconds * keys.ROLLUP_CHUNK
            first = (now - tier.keep - chunk_seconds) // chunk_seconds
            last = (now + chunk_seconds) // chunk_seconds
            found += [keys.sensor_rollup_chunk(sensor_id, tier.seconds, gen, chunk) for chunk in range(first, last + 1)]
        return found
