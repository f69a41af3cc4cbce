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

``sensors:seen``
    sorted set of every sensor id, scored by when sensorhub last heard of it
    (server time, seconds since the epoch); updated by every ingest call.
    It lists all sensors, registered or not, and drives offline detection.

Access control keys:

``sensor:{id}:meta``
    hash of a sensor's registered metadata (the sensor registry owns it);
    access control reads and sets only its field ``org``, the org the
    sensor belongs to. An org-scoped ingest key claims a sensor of no org on
    its first write (HSETNX of ``org``).
``ratelimit:{<key id>}``
    request counter of one API key in the current one-second window (INCR,
    1 s expiry). The key id is a prefix of the SHA-256 of the API key: the
    key itself never reaches Redis.

Sensor ids are restricted to ``A-Z a-z 0-9 . _ : -`` (no braces), so an id
can never break out of its hash tag.
"""

from __future__ import annotations

SENSOR_PREFIX = "sensor:"


def sensor(sensor_id: str) -> str:
    """Statistics hash of one sensor; also the routing key of its scripts."""
    return f"sensor:{{{sensor_id}}}"


def sensor_bucket(sensor_id: str, gen: int | str, bucket: int | str) -> str:
    """Readings of one sensor in one time bucket of one clear generation."""
    return f"sensor:{{{sensor_id}}}:r:{gen}:{bucket}"


SENSORS_SEEN = "sensors:seen"


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes (between the first braces)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


# -- access control -------------------------------------------------------


def sensor_meta(sensor_id: str) -> str:
    """Registered metadata of one sensor; field ``org`` scopes API keys."""
    return f"sensor:{{{sensor_id}}}:meta"


SENSOR_ORG_FIELD = "org"


def rate_limit(key_id: str) -> str:
    """Request counter of one API key (by key id) in its current window."""
    return f"ratelimit:{{{key_id}}}"
