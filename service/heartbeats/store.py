"""Heartbeats, per-sensor status and the sensor overview (layout: ``service.keys``).

A sensor is heard of by a heartbeat or by any reading; both update
``sensors:seen``. Transitions between online and offline are claimed by
``status.lua`` (one sensor, one script, exactly once) into the sensor's
outbox, then published to the event stream by whoever claimed them or,
after a crash, by the next check of that sensor.
"""

from __future__ import annotations

import time

import orjson
from flask import Flask
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, ResponseError

from .. import keys
from ..events.store import EventStore, iso_now
from ..redis_client import redis_ext
from ..settings import Settings

META_FIELDS = ("org", "site", "building", "room", "name", "kind", "unit")


def _text(value) -> str | None:
    return value.decode() if value is not None else None


class HeartbeatStore:
    def __init__(self, app: Flask, settings: Settings, events: EventStore):
        self.client = redis_ext.client_for(app)
        self.cluster = isinstance(self.client, RedisCluster)
        self.events = events
        self.offline_after = settings.offline_after
        self._status = redis_ext.register_script(app, __package__, "status.lua")

    # -- heartbeats --------------------------------------------------------

    def heartbeat(self, mac: str, now: float | None = None) -> dict:
        """Record a heartbeat of the sensor with this (normalised) MAC."""
        now = time.time() if now is None else now
        sensor_id = mac
        # sensors:seen first: if the process dies before the script, the
        # sensor is still indexed, so offline detection cannot miss it.
        self.client.zadd(keys.SENSORS_SEEN, {sensor_id: now})
        outbox = self._status(
            keys=[keys.sensor_heartbeat(sensor_id)],
            args=[sensor_id, "", now - self.offline_after, f"{now:.6f}", iso_now(now), mac],
        )
        if outbox:
            self.events.publish_outbox(sensor_id, outbox, now)
        return {"sensor": sensor_id, "mac_address": mac, "status": "online", "last_heartbeat": iso_now(now)}

    # -- transitions -------------------------------------------------------

    def check(self, heard: dict[str, float | None], now: float) -> list[dict]:
        """Claim due transitions of these sensors (id -> last heard per
        sensors:seen) and publish every pending one; returns the events
        published by this call."""
        if not heard:
            return []
        cutoff = now - self.offline_after
        calls = [
            ([keys.sensor_heartbeat(sensor_id)], [sensor_id, "" if seen is None else repr(seen), repr(cutoff),
                                                  f"{now:.6f}", iso_now(now), ""])
            for sensor_id, seen in heard.items()
        ]
        if self.cluster:
            results = [self._status(keys=k, args=a) for k, a in calls]
        else:
            pipe = self.client.pipeline(transaction=False)
            for call_keys, args in calls:
                pipe.evalsha(self._status.sha, len(call_keys), *call_keys, *args)
            results = pipe.execute(raise_on_error=False)
            for index, result in enumerate(results):
                if isinstance(result, NoScriptError):
                    results[index] = self._status(keys=calls[index][0], args=calls[index][1])
                elif isinstance(result, Exception):
                    raise result
        published = []
        for sensor_id, outbox in zip(heard, results, strict=True):
            if outbox:
                published += self.events.publish_outbox(sensor_id, outbox, now)
        return published

    # -- overview ----------------------------------------------------------

    def overview(self, offset: int = 0, limit: int = 1000, now: float | None = None) -> tuple[list[dict], int]:
        """Sensors most recently heard first, with status, last heartbeat,
        last reading and registry metadata; returns (sensors, total)."""
        now = time.time() if now is None else now
        seen = self.client.zrevrange(keys.SENSORS_SEEN, offset, offset + limit - 1, withscores=True)
        total = self.client.zcard(keys.SENSORS_SEEN)
        if not seen:
            return [], total
        pipe = self.client.pipeline(transaction=False)
        for raw_id, _ in seen:
            sensor_id = raw_id.decode()
            pipe.hmget(keys.sensor_heartbeat(sensor_id), "last_hb", "mac")
            pipe.hmget(keys.sensor(sensor_id), "last_iso", "last_value", "count")
            pipe.hgetall(keys.sensor_meta(sensor_id))
        replies = pipe.execute(raise_on_error=False)
        sensors = []
        for index, (raw_id, heard) in enumerate(seen):
            (last_hb, mac), (last_iso, last_value, count), meta = replies[3 * index : 3 * index + 3]
            if isinstance(meta, ResponseError):
                # The registry may keep metadata as a JSON string instead of a hash.
                meta = self._meta_document(raw_id.decode())
            elif isinstance(meta, Exception):
                raise meta
            meta = {_text(k) if isinstance(k, bytes) else k: _text(v) if isinstance(v, bytes) else v for k, v in meta.items()}
            sensor = {
                "id": raw_id.decode(),
                "status": "offline" if now - heard >= self.offline_after else "online",
                "last_heard": iso_now(heard),
                "last_heartbeat": iso_now(float(last_hb)) if last_hb else None,
                "mac_address": _text(mac) or meta.get("mac_address"),
                "last_reading": (
                    {"at": last_iso.decode(), "value": float(last_value)} if count and last_iso and last_value else None
                ),
            }
            for name in META_FIELDS:
                value = meta.get(name)
                sensor[name] = value if isinstance(value, str) and value else None
            sensors.append(sensor)
        return sensors, total

    def _meta_document(self, sensor_id: str) -> dict:
        raw = self.client.get(keys.sensor_meta(sensor_id))
        try:
            document = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return {}
        return document if isinstance(document, dict) else {}
