"""Readings and per-sensor statistics in Redis (layout: ``service.keys``)."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

from redis.cluster import RedisCluster
from redis.crc import key_slot

from .. import exactsum, keys
from ..history.store import HistoryStore, oldest_reachable
from ..redisdb.connection import ReplicasNotAcknowledged
from ..redisdb.scripts import ScriptBatch, Scripts
from ..redisdb.slots import slot_groups
from ..settings import Settings

# Readings per script call: bounds how long one call holds Redis (a batch of
# 10,000 becomes a few calls sent in one round trip).
READINGS_PER_CALL = 2000


class ReadingStore:
    def __init__(self, client, scripts: Scripts, settings: Settings, *, history: HistoryStore):
        self.client = client
        self.history = history
        self.cluster = isinstance(self.client, RedisCluster)
        # Buckets are both the dedup memory and the window store: they must
        # outlive whichever of the two is longer.
        self.ttl = max(settings.dedup_ttl, settings.retention)
        self.bucket_us = settings.bucket_seconds * 1_000_000
        self.retention = settings.retention
        self.wait_replicas = settings.redis_wait_replicas
        self.wait_timeout_ms = settings.redis_wait_timeout_ms
        self._ingest = scripts.register(__package__, "ingest.lua")
        self._clear = scripts.register(__package__, "clear.lua")
        self._sensor_meta = scripts.register(__package__, "sensor_meta.lua")
        # Under gevent a patched semaphore: waiting batches yield to reads.
        self._slots = threading.BoundedSemaphore(settings.ingest_concurrency) if settings.ingest_concurrency else None

    def batch_slot(self):
        """Held while a web request works on a batch: at most
        INGEST_CONCURRENCY at once in this process (no limit when 0)."""
        return self._slots if self._slots is not None else nullcontext()

    # -- ingest -----------------------------------------------------------

    def _calls(self, groups: dict, now: float, winners: bool = False,
               expired: list | None = None) -> list[tuple[list, list]]:
        """Split grouped readings into script calls of (KEYS, ARGV); with
        ``winners`` the calls answer the value stored for each duplicate;
        ``expired`` (a one-item list), when given, has the number of
        readings older than any query reaches added to it (``unreachable``),
        counted in this loop over the buckets rather than a second one.

        On a cluster a call carries only sensors of one hash slot; on a
        single Redis any sensors, up to READINGS_PER_CALL readings. This is
        ``slot_groups`` written out: on POST /data's hot path the generic
        helper, which sizes each sensor's readings in a pass of its own,
        cost 0.27 µs more per sensor (a batch of 500: 246 -> 386 µs).
        """
        calls: list[list] = []
        open_call: dict[int, list] = {}
        header = [self.ttl, 1 if winners else 0, self.bucket_us, *self.history.ingest_args(now)]
        old_bucket, old_offset = self._horizon(now) if expired is not None else (-1 << 62, 0)
        for sensor, (latest_us, latest_iso, latest_value, buckets) in groups.items():
            key = keys.sensor(sensor)
            slot = key_slot(key.encode()) if self.cluster else 0
            call = open_call.get(slot)
            if call is None or call[2] >= READINGS_PER_CALL:
                call = open_call[slot] = [[], list(header), 0]
                calls.append(call)
            call[0].append(key)
            args = call[1]
            args += (latest_us, latest_iso, latest_value, len(buckets))
            for bucket, pairs in buckets.items():
                readings = len(pairs) // 2
                args += (bucket, readings)
                args += pairs
                call[2] += readings
                if bucket <= old_bucket:
                    expired[0] += readings if bucket < old_bucket else sum(o < old_offset for o in pairs[::2])
        return [(call_keys, args) for call_keys, args, _ in calls]

    def ingest(self, groups: dict, now: float | None = None, expired: list | None = None) -> int:
        """Apply validated, grouped readings; returns how many were new.

        Also marks every sensor of the batch as heard of now in
        ``sensors:seen`` and lists it in ``sensors:ids``. Everything goes in one pipeline: on a
        single Redis one round trip; on a cluster redis-py's ClusterPipeline
        sends each node its commands (one script call per hash slot, each
        touching one slot) and reads the answers after writing to all nodes,
        following MOVED/ASK. The index writes are idempotent, so a client
        retrying a failed batch repairs them. ``expired``: see ``_calls``.
        """
        if not groups:
            return 0
        calls, results = self._write(groups, now, False, expired)
        return sum(sum(result) for result in results[: len(calls)])

    def _horizon(self, now: float) -> tuple[int, int]:
        """(bucket, offset) of the oldest instant any query reaches at ``now``:
        a reading before it counts in its sensor's statistics, no window,
        series or history query will ever show it."""
        horizon = oldest_reachable(self.history.tiers, int(now * 1_000_000), self.retention)
        return divmod(horizon, self.bucket_us)

    def ingest_with_winners(self, groups: dict, now: float | None = None) -> tuple[int, dict]:
        """``ingest``, also answering the value that won each duplicate's
        instant (the one stored first; the first copy within the batch):
        (new readings, sensor -> [(position of the duplicate among the
        sensor's readings in ``groups`` order, bucket by bucket, from 1),
        stored value text), ...] for the sensors with duplicates)."""
        if not groups:
            return 0, {}
        calls, results = self._write(groups, now, True)
        accepted, winners = 0, {}
        sensor_of = {keys.sensor(sensor): sensor for sensor in groups}
        for (call_keys, _), result in zip(calls, results, strict=False):
            for key, reply in zip(call_keys, result, strict=True):
                accepted += reply[0]
                if len(reply) > 1:
                    winners[sensor_of[key]] = [(reply[n], reply[n + 1].decode()) for n in range(1, len(reply), 2)]
        return accepted, winners

    def _write(self, groups: dict, now: float | None, winners: bool, expired: list | None = None) -> tuple[list, list]:
        """The ingest calls and the pipeline's replies (the calls' first)."""
        heard_at = time.time() if now is None else now
        calls = self._calls(groups, heard_at, winners, expired)
        heard = dict.fromkeys(groups, heard_at)
        written = [call_keys[0] for call_keys, _ in calls] + [keys.SENSORS_SEEN, keys.SENSOR_IDS]
        batch = ScriptBatch(self.client, trailer=lambda pipe: self._queue_waits(pipe, written))
        for call_keys, args in calls:
            batch.script(self._ingest, call_keys, args)
        batch.pipe.zadd(keys.SENSORS_SEEN, heard)
        batch.pipe.zadd(keys.SENSOR_IDS, dict.fromkeys(groups, 0), nx=True)
        results = batch.execute()
        waits = len(results) - len(calls) - 2
        if waits:
            acknowledged = min(results[-waits:])
            if acknowledged < self.wait_replicas:
                raise ReplicasNotAcknowledged(
                    f"{acknowledged} of {self.wait_replicas} replicas acknowledged within {self.wait_timeout_ms} ms"
                )
        return calls, results

    def _queue_waits(self, pipe, written_keys: list[str]) -> int:
        """Queue WAIT after the writes on every node written (REDIS_WAIT_REPLICAS).

        WAIT covers the writes sent earlier on the same connection; a
        pipeline uses one connection per node, so one WAIT per node written
        covers the batch. Returns how many WAITs were queued (they are last).
        """
        if not self.wait_replicas:
            return 0
        if not self.cluster:
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
            return 1
        nodes = {}
        for key in written_keys:
            node = self.client.nodes_manager.get_node_from_slot(key_slot(key.encode()))
            nodes[node.name] = node
        for node in nodes.values():
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms, target_nodes=node)
        return len(nodes)

    def sensor_meta(self, sensor_ids) -> tuple[dict, dict]:
        """(sensor -> (kind, input unit) of the registered sensors, sensor ->
        org or None of every sensor) among ``sensor_ids``: one script call per
        slot, all in one round trip on a single Redis."""
        calls = slot_groups(sensor_ids, keys.sensor, self.cluster)
        # One pipeline; on a cluster each call goes to its slot's node.
        batch = ScriptBatch(self.client)
        for sensors in calls:
            batch.script(self._sensor_meta, [keys.sensor_meta(sensor) for sensor in sensors], [])
        found, orgs = {}, {}
        for sensors, reply in zip(calls, batch.execute(), strict=True):
            for position, sensor in enumerate(sensors):
                kind, unit, org = reply[3 * position : 3 * position + 3]
                if kind:
                    found[sensor] = (kind.decode(), unit.decode() if unit else None)
                orgs[sensor] = org.decode() if org else None
        return found, orgs

    # -- statistics -------------------------------------------------------

    def statistics(self, sensor_id: str) -> dict:
        count, exact, legacy, last_iso = self.client.hmget(keys.sensor(sensor_id), "count", "exact", "sum", "last_iso")
        count = int(count) if count else 0
        return {
            "last_measurement": last_iso.decode() if count and last_iso else None,
            "count": count,
            "avg": exactsum.mean(exactsum.total(exact, legacy), count) if count else 0.0,
        }

    def clear(self, sensor_id: str) -> None:
        """Clear in O(1): the old generation's readings expire on their own;
        its history tiers, kept for years, go to the worker to reclaim."""
        newest = (int(time.time() * 1_000_000) + self.bucket_us) // self.bucket_us
        old_gen = int(self._clear(keys=[keys.sensor(sensor_id)], args=[self.bucket_us, self.ttl, newest]))
        if self.history.tiers:
            self.client.sadd(keys.HISTORY_RECLAIM, f"{sensor_id} {old_gen}")
