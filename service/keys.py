"""The one place that knows sensorhub's Redis key layout.

Everything about one sensor lives under keys sharing the hash tag
``{<sensor id>}``, so a Lua script can update a sensor atomically and the
same script runs unchanged on Redis Cluster (all its keys in one slot).

Sensor keys (tag = sensor id):

``sensor:{id}``
    hash of running statistics: ``gen`` (clear generation), ``count``,
    ``sum``, ``last_us`` (latest reading instant, microseconds since the
    epoch), ``last_iso`` (that instant as it was sent, offset kept) and
    ``last_value`` (the value of that reading).
``sensor:{id}:r:<gen>:<bucket>``
    hash of the sensor's distinct readings whose instant falls in bucket
    ``floor(us / BUCKET_SECONDS·10⁶)``: field = microseconds into the
    bucket, value = reading value. It is both the dedup memory (HSETNX) and
    the raw window store. Its TTL is refreshed to DEDUP_TTL on every new
    reading, so every remembered reading is kept at least DEDUP_TTL after
    its arrival and memory is bounded. Bucket keys are derived inside Lua
    from the declared ``sensor:{id}`` key (same tag, same slot); ``gen``
    makes DELETE O(1): a clear bumps it and the old buckets expire.

Cross-sensor keys (no tag; each is one key, so one slot on a cluster):

``sensors:seen:{<n>}`` for n in 0 .. SENSORS_SEEN_SHARDS-1
    sorted sets that together hold every sensor id, scored by when
    sensorhub last heard of it (server time, seconds since the epoch);
    updated by every ingest call. A sensor lives in shard
    ``crc32(id) % SENSORS_SEEN_SHARDS`` (``sensors_seen(id)``); readers
    scan all shards (``sensors_seen_keys()``). Sharded so that no single
    key, hence no single cluster node, takes every ingest's update and
    holds every sensor (docs/scaling.md). They list all sensors,
    registered or not, and drive offline detection.

Sensor ids are restricted to ``A-Z a-z 0-9 . _ : -`` (no braces), so an id
can never break out of its hash tag.
"""

from __future__ import annotations

import zlib

SENSOR_PREFIX = "sensor:"


def sensor(sensor_id: str) -> str:
    """Statistics hash of one sensor; also the routing key of its scripts."""
    return f"sensor:{{{sensor_id}}}"


def sensor_bucket(sensor_id: str, gen: int | str, bucket: int | str) -> str:
    """Readings of one sensor in one time bucket of one clear generation."""
    return f"sensor:{{{sensor_id}}}:r:{gen}:{bucket}"


SENSORS_SEEN_SHARDS = 16


def sensors_seen(sensor_id: str) -> str:
    """The ``sensors:seen`` shard that holds this sensor."""
    return f"sensors:seen:{{{zlib.crc32(sensor_id.encode()) % SENSORS_SEEN_SHARDS}}}"


def sensors_seen_keys() -> list[str]:
    """Every shard of ``sensors:seen``; a cross-sensor reader visits them all."""
    return [f"sensors:seen:{{{n}}}" for n in range(SENSORS_SEEN_SHARDS)]


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes (between the first braces)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key
