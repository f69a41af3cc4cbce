"""Memory benchmark: Redis bytes per retained raw reading.

Fills a fresh embedded redis-server (the binary and configuration of
`make run`) with SENSORS sensors x HOURS hours at one reading a minute,
ending now, through the real ingest path (lean checker, unit pass, ingest
script) without HTTP, and reports `INFO memory` used_memory growth divided by
the readings retained, plus how the bucket hashes are encoded. Then checks
that a 15-minute window of a sample of sensors counts exactly 15 readings.

    python bench/memory.py                       # 1,000 sensors x 48 h
    python bench/memory.py --sensors 100 --hours 6
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import create_app, keys, timeutil  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.readings.validation import apply_sensor_units, parse_batch  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.stores import stores

BATCH = 10_000
MINUTE_US = 60 * 1_000_000


def readings(sensors: int, hours: int, end_us: int):
    """Batches of /data items, minute by minute across all sensors; each
    sensor reports at its own second of the minute, values with 2 decimals."""
    rng = random.Random(7)
    start = end_us - hours * 3600 * 1_000_000
    phase = [rng.randrange(60) * 1_000_000 for _ in range(sensors)]
    level = [rng.uniform(17, 26) for _ in range(sensors)]
    batch = []
    for minute in range(hours * 60):
        at = start + minute * MINUTE_US
        for sensor in range(sensors):
            level[sensor] += rng.uniform(-0.05, 0.05)
            batch.append(
                {"sensor": f"sensor-{sensor:05d}", "timestamp": timeutil.us_to_iso(at + phase[sensor]), "value": round(level[sensor], 2)}
            )
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--registered", action="store_true", help="register every sensor as a temperature sensor first")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    server = EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-memory-"), appendonly=False)
    url = server.start()
    try:
        settings = Settings(redis_url=url, log_requests=False, log_level="WARNING")
        app = create_app(settings)
        store, registry, client = stores(app).readings, stores(app).sensors, stores(app).client
        if args.registered:
            for sensor in range(args.sensors):
                registry.put(f"sensor-{sensor:05d}", {"kind": "temperature", "org": "bench"})
        client.memory_purge()
        before = client.info("memory")["used_memory"]
        end_us = (time.time_ns() // 1000) // MINUTE_US * MINUTE_US
        began = time.perf_counter()
        total = 0
        for batch in readings(args.sensors, args.hours, end_us):
            groups, count = parse_batch(batch, max_batch=BATCH, bucket_us=settings.bucket_seconds * 1_000_000)
            apply_sensor_units(groups, store.sensor_meta(groups)[0], batch)
            total += store.ingest(groups)
        elapsed = time.perf_counter() - began
        client.memory_purge()
        memory = client.info("memory")
        retained = args.sensors * args.hours * 60
        bucket_keys = client.keys(keys.sensor("sensor-00000") + ":r:*")
        encodings = sorted({client.object("encoding", key).decode() for key in bucket_keys})
        sample = random.Random(1).sample(range(args.sensors), min(50, args.sensors))
        _, windows = registry.windows([f"sensor-{s:05d}" for s in sample], end_us - 15 * MINUTE_US, end_us)
        result = {
            "sensors": args.sensors,
            "hours": args.hours,
            "registered": args.registered,
            "readings_retained": retained,
            "readings_accepted": total,
            "used_memory_growth_bytes": memory["used_memory"] - before,
            "bytes_per_reading": round((memory["used_memory"] - before) / retained, 1),
            "bucket_encoding": encodings,
            "buckets_per_sensor": len(bucket_keys),
            "window_15m_exact": all(w["count"] == 15 for w in windows),
            "ingest_seconds": round(elapsed, 1),
        }
    finally:
        server.stop()
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["readings_accepted"] == retained and result["window_15m_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
