"""Readings and per-sensor statistics in Redis (layout: ``service.keys``)."""

from __future__ import annotations

import time

from flask import Flask
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError

from .. import keys
from ..redis_client import redis_ext
from ..settings import Settings

# Readings per script call: bounds how long one call holds Redis (a batch of
# 10,000 becomes a few calls sent in one round trip).
READINGS_PER_CALL = 2000


class ReadingStore:
    def __init__(self, app: Flask, settings: Settings):
        self.client = redis_ext.client_for(app)
        self.cluster = isinstance(self.client, RedisCluster)
        self.ttl = settings.dedup_ttl
        self.bucket_us = settings.bucket_seconds * 1_000_000
        self._ingest = redis_ext.register_script(app, __package__, "ingest.lua")
        self._clear = redis_ext.register_script(app, __package__, "clear.lua")

    # -- ingest -----------------------------------------------------------

    def _calls(self, groups: dict) -> list[tuple[list, list]]:
        """Split grouped readings into script calls of (KEYS, ARGV).

        On a cluster a call carries only sensors of one hash slot; on a
        single Redis any sensors, up to READINGS_PER_CALL readings.
        """
        calls: list[list] = []
        open_call: dict[int, list] = {}
        for sensor, (latest_us, latest_iso, latest_value, buckets) in groups.items():
            key = keys.sensor(sensor)
            slot = key_slot(key.encode()) if self.cluster else 0
            call = open_call.get(slot)
            if call is None or call[2] >= READINGS_PER_CALL:
                call = open_call[slot] = [[], [self.ttl], 0]
                calls.append(call)
            call[0].append(key)
            args = call[1]
            args += (latest_us, latest_iso, latest_value, len(buckets))
            for bucket, pairs in buckets.items():
                readings = len(pairs) // 2
                args += (bucket, readings)
                args += pairs
                call[2] += readings
        return [(call_keys, args) for call_keys, args, _ in calls]

    def ingest(self, groups: dict, now: float | None = None) -> int:
        """Apply validated, grouped readings; returns how many were new.

        Also marks every sensor of the batch as heard of now. The index
        write follows the scripts in the same round trip; it is idempotent,
        so a client retrying a failed batch repairs it.
        """
        calls = self._calls(groups)
        heard = {sensor: time.time() if now is None else now for sensor in groups}
        if self.cluster:
            # redis-py routes each call to its slot's node.
            accepted = sum(sum(self._ingest(keys=k, args=a)) for k, a in calls)
            self.client.zadd(keys.SENSORS_SEEN, heard)
            return accepted
        pipe = self.client.pipeline(transaction=False)
        for call_keys, args in calls:
            pipe.evalsha(self._ingest.sha, len(call_keys), *call_keys, *args)
        pipe.zadd(keys.SENSORS_SEEN, heard)
        results = pipe.execute(raise_on_error=False)
        accepted = 0
        for (call_keys, args), result in zip(calls, results[:-1], strict=True):
            if isinstance(result, NoScriptError):
                result = self._ingest(keys=call_keys, args=args)
            elif isinstance(result, Exception):
                raise result
            accepted += sum(result)
        if isinstance(results[-1], Exception):
            raise results[-1]
        return accepted

    # -- statistics -------------------------------------------------------

    def statistics(self, sensor_id: str) -> dict:
        count, total, last_iso = self.client.hmget(keys.sensor(sensor_id), "count", "sum", "last_iso")
        count = int(count) if count else 0
        return {
            "last_measurement": last_iso.decode() if count and last_iso else None,
            "count": count,
            "avg": float(total) / count if count else 0.0,
        }

    def clear(self, sensor_id: str) -> None:
        self._clear(keys=[keys.sensor(sensor_id)])
