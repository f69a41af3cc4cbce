"""Packing POST /data's Redis commands: redis-py's hiredis packer against
sensorhub's LeanPacker (service/redisdb/connection.py), in this process.

The commands are those POST /data sends for bench/ingest.py's bodies (the
ingest script calls and the fleet-wide ZADDs, readings of the last hour),
for both shapes: many sensors per batch (1.25 readings of each of 400) and
many readings per sensor (10 of each of 50). Each packer packs them all,
alternating, ``--rounds`` times; medians of the CPU per posted reading.
The bytes of both are checked equal first.

    PYTHONPATH=. python bench/command_packing.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from redis.connection import HiredisRespSerializer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import generate  # noqa: E402
from service import keys  # noqa: E402
from service.app import build_stores  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.readings.validation import parse_batch  # noqa: E402
from service.redisdb.connection import LeanPacker  # noqa: E402
from service.settings import Settings  # noqa: E402

SHAPES = {"many_sensors": 400, "many_readings": 50}


def commands(store, bodies: list[bytes]) -> tuple[list[tuple], int]:
    """The commands POST /data sends for ``bodies`` (built by the service's
    ReadingStore, none sent), and the readings posted."""
    sent, posted, now = [], 0, time.time()
    for body in bodies:
        groups, count = parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=store.bucket_us)
        posted += count
        for call_keys, args in store._calls(groups, now):
            sent.append(("EVALSHA", "0" * 40, len(call_keys), *call_keys, *args))
        sent.append(("ZADD", keys.SENSORS_SEEN, *[part for sensor in groups for part in (now, sensor)]))
        sent.append(("ZADD", keys.SENSOR_IDS, "NX", *[part for sensor in groups for part in (0, sensor)]))
    return sent, posted


def packing_us(packer, sent: list[tuple], posted: int) -> float:
    started = time.process_time()
    for command in sent:
        packer.pack(*command)
    return (time.process_time() - started) * 1e6 / posted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=59)
    packers = {"redis_py": HiredisRespSerializer(), "lean": LeanPacker()}
    server = EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-packing-"), appendonly=False)
    try:
        store = build_stores(Settings.from_env({"REDIS_URL": server.start()})).readings
        loads = {shape: commands(store, generate(1000, 60, 500, 0.10, 0.05, 7, gateway, first))
                 for shape, gateway in SHAPES.items()}
    finally:
        server.stop()
    result = {}
    for shape, (sent, posted) in loads.items():
        for command in sent[:50]:
            wire = {name: b"".join(packer.pack(*command)) for name, packer in packers.items()}
            assert wire["redis_py"] == wire["lean"], command[:3]
        runs = {name: [] for name in packers}
        for _ in range(args.rounds):
            for name, packer in packers.items():
                runs[name].append(packing_us(packer, sent, posted))
        result[shape] = {
            "arguments_per_reading": round(sum(len(c) for c in sent) / posted, 2),
            "us_per_reading": {name: round(statistics.median(v), 3) for name, v in runs.items()},
            "lean_over_redis_py": round(statistics.median(
                lean / plain for lean, plain in zip(runs["lean"], runs["redis_py"], strict=True)), 3),
        }
        print(json.dumps({shape: result[shape]}), file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
