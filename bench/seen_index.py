"""The fleet-wide sensor indexes as the fleet grows: ``sensors:seen`` and ``sensors:ids``.

    PYTHONPATH=. .venv/bin/python bench/seen_index.py [largest fleet]

Every ``POST /data`` batch updates two single keys: ``ZADD sensors:seen``
(each sensor of the batch, scored with the time it was heard) and
``ZADD NX sensors:ids`` (the id index of ``GET /v1/sensors``). On a Redis
Cluster each is one key on one shard, which takes those writes for every
batch of the fleet. On an embedded redis-server this fills both to 100,000,
1,000,000 and 10,000,000 sensors (up to the given size), then sends
batch-sized writes of 5,000 distinct known sensors, as ingest does, and
reports per fleet size: memory per sensor of each key, and Redis CPU per
write (``INFO commandstats``). From these, the share of one core the two
keys take when every sensor sends one reading a minute in batches of 5,000
sensors.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time

import redis

from service import keys
from service.embedded_redis import EmbeddedRedis

FLEETS = (100_000, 1_000_000, 10_000_000)
BATCH_SENSORS = 5_000
WRITES = 200
FILL_CHUNK = 10_000


def sensor_id(n: int) -> str:
    return f"site-{n // 50:07d}-sensor-{n % 50:02d}"


def fill(client: redis.Redis, start: int, end: int) -> None:
    heard = time.time() - 3600
    pipe = client.pipeline(transaction=False)
    for first in range(start, end, FILL_CHUNK):
        ids = [sensor_id(n) for n in range(first, min(first + FILL_CHUNK, end))]
        pipe.zadd(keys.SENSORS_SEEN, dict.fromkeys(ids, heard))
        pipe.zadd(keys.SENSOR_IDS, dict.fromkeys(ids, 0), nx=True)
        if len(pipe) >= 20:
            pipe.execute()
    pipe.execute()


def usec_per_call(client: redis.Redis) -> float:
    stats = client.info("commandstats").get("cmdstat_zadd")
    return stats["usec"] / stats["calls"]


def measure(client: redis.Redis, fleet: int, rng: random.Random) -> dict:
    memory = {name: client.memory_usage(name, samples=0) / fleet for name in (keys.SENSORS_SEEN, keys.SENSOR_IDS)}
    batches = [[sensor_id(n) for n in rng.sample(range(fleet), BATCH_SENSORS)] for _ in range(WRITES)]
    result = {"sensors": fleet, "bytes_per_sensor": {name: round(size, 1) for name, size in memory.items()}}
    for name, write in (
        (keys.SENSORS_SEEN, lambda ids: client.zadd(keys.SENSORS_SEEN, dict.fromkeys(ids, time.time()))),
        (keys.SENSOR_IDS, lambda ids: client.zadd(keys.SENSOR_IDS, dict.fromkeys(ids, 0), nx=True)),
    ):
        client.config_resetstat()
        for ids in batches:
            write(ids)
        result.setdefault("redis_us_per_write", {})[name] = round(usec_per_call(client))
    # One reading a minute per sensor, batches of 5,000 distinct sensors.
    writes_per_s = fleet / 60 / BATCH_SENSORS
    result["core_share_at_one_reading_a_minute"] = round(
        writes_per_s * sum(result["redis_us_per_write"].values()) / 1e6, 4)
    return result


def main(largest: int) -> None:
    rng = random.Random(1)
    results = []
    with EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-bench-"), appendonly=False) as server:
        client = redis.Redis.from_url(server.url)
        filled = 0
        for fleet in (size for size in FLEETS if size <= largest):
            started = time.perf_counter()
            fill(client, filled, fleet)
            filled = fleet
            print(f"filled {fleet:,} sensors in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            results.append(measure(client, fleet, rng))
            print(json.dumps(results[-1]), file=sys.stderr)
        client.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else FLEETS[-1])
