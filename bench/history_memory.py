"""Memory benchmark: Redis bytes per history bucket (ROLLUPS tiers).

Fills a fresh embedded redis-server (the binary and configuration of
`make run`, no append-only file) with SENSORS sensors x DAYS days (the last
DAYS whole UTC days before today) at one reading every INTERVAL minutes,
through the real ingest path (parse_batch, unit pass, ReadingStore.ingest:
the ingest script that writes the hourly and daily buckets), a day of a
sensor's readings per script call, up to 10,000 readings per batch. Each
sensor reports at its own whole second within the interval.

The raw bucket hashes (kept 48 h after arrival) are deleted as the ingest
goes, so only the tiers remain. Then, per tier (keys
``sensor:{id}:h:<seconds>:*``):

- buckets (HLEN sums), average packed record (HSTRLEN), MEMORY USAGE
  (SAMPLES 0) summed over its chunk keys, per bucket;
- the cross-check: `INFO memory` used_memory drop when the tier's keys are
  deleted, per bucket.

Shapes (values, all unregistered sensors, values as sent):
  smooth  temperature-like: seasonal and daily cycles + small noise, 2 decimals
  noisy   uniform over 4 degrees around the sensor's level, 2 decimals
  energy  power in W with 1 decimal (base load + daytime load + noise)

Bucket content does not depend on how many readings it holds, except the
count's width: at one reading a minute a daily bucket's count takes 2 bytes
instead of 1 (1440 > 255); the report says so.

    python bench/history_memory.py                          # 1,000 sensors x 365 d, smooth (~16 min)
    python bench/history_memory.py --shape noisy --sensors 100   # ~3 min; bytes per bucket as with 1,000
    python bench/history_memory.py --sensors 50 --days 30 --rollups 1h:400d
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import keys, timeutil  # noqa: E402
from service.app import build_stores  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.readings.validation import apply_sensor_units, parse_batch  # noqa: E402
from service.settings import Settings  # noqa: E402

BATCH = 10_000
DAY = 86400
YEAR = 365.25 * DAY


def smooth(rng: random.Random, sensor: int):
    level, swing, season = rng.uniform(17, 24), rng.uniform(1, 4), rng.uniform(2, 6)
    shift = rng.uniform(0, 2 * math.pi)

    def value(t: int) -> float:
        daily = swing * math.sin(2 * math.pi * (t % DAY) / DAY + shift)
        yearly = season * math.sin(2 * math.pi * t / YEAR)
        return round(level + daily + yearly + rng.gauss(0, 0.05), 2)

    return value


def noisy(rng: random.Random, sensor: int):
    level = rng.uniform(17, 24)
    return lambda t: round(rng.uniform(level - 2, level + 2), 2)


def energy(rng: random.Random, sensor: int):
    base, peak = rng.uniform(200, 900), rng.uniform(500, 3000)

    def value(t: int) -> float:
        hour = (t % DAY) / 3600
        day_load = peak * max(0.0, math.sin(math.pi * (hour - 7) / 14)) if 7 <= hour <= 21 else 0.0
        return round(max(0.0, base + day_load + rng.gauss(0, 40)), 1)

    return value


SHAPES = {"smooth": smooth, "noisy": noisy, "energy": energy}


def batches(shape, sensors: int, first_day: int, days: int, interval: int):
    """(batch of /data items, raw bucket keys it fills), a day of a sensor
    per group, oldest day first."""
    rng = random.Random(7)
    phase = [rng.randrange(interval) for _ in range(sensors)]
    signal = [SHAPES[shape](rng, sensor) for sensor in range(sensors)]
    names = [f"sensor-{sensor:05d}" for sensor in range(sensors)]
    per_day = DAY // interval
    batch, raw = [], []
    for day in range(first_day, first_day + days):
        start = day * DAY
        for sensor in range(sensors):
            if len(batch) + per_day > BATCH:
                yield batch, raw
                batch, raw = [], []
            name, value = names[sensor], signal[sensor]
            for k in range(per_day):
                t = start + k * interval + phase[sensor]
                batch.append({"sensor": name, "timestamp": timeutil.us_to_iso(t * 1_000_000), "value": value(t)})
            raw.extend(keys.sensor_bucket(name, 0, hour) for hour in range(start // 3600, (start + DAY) // 3600))
    if batch:
        yield batch, raw


def tier_keys(client, seconds: int) -> list[bytes]:
    return list(client.scan_iter(match=f"sensor:{{*}}{keys.ROLLUP_SUFFIX}{seconds}{keys.SEPARATOR}*", count=1000))


def measure_tier(client, seconds: int) -> dict:
    """Buckets, record sizes and MEMORY USAGE of one tier's keys; then the
    used_memory drop when they are deleted."""
    names = tier_keys(client, seconds)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
        pipe.hgetall(name)
    replies = pipe.execute()
    usage = sum(replies[0::2])
    records = [len(packed) for fields in replies[1::2] for packed in fields.values()]
    encodings = {client.object("encoding", name).decode() for name in names[:50]}
    key_name_bytes = sum(len(name) for name in names)
    client.memory_purge()
    before = client.info("memory")["used_memory"]
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])
    client.memory_purge()
    freed = before - client.info("memory")["used_memory"]
    buckets = len(records)
    return {
        "keys": len(names),
        "buckets": buckets,
        "buckets_per_key": round(buckets / len(names), 1) if names else None,
        "encoding": sorted(encodings),
        "record_bytes_avg": round(sum(records) / buckets, 2) if buckets else None,
        "record_bytes_min": min(records, default=None),
        "record_bytes_max": max(records, default=None),
        "record_bytes_histogram": {str(n): records.count(n) for n in sorted(set(records))},
        "key_name_bytes_avg": round(key_name_bytes / len(names), 1) if names else None,
        "memory_usage_bytes": usage,
        "memory_usage_per_bucket": round(usage / buckets, 2) if buckets else None,
        "used_memory_freed_bytes": freed,
        "used_memory_per_bucket": round(freed / buckets, 2) if buckets else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--interval", type=int, default=15, help="minutes between a sensor's readings")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="smooth")
    parser.add_argument("--rollups", default="1h:400d,1d:3650d", help="ROLLUPS of the run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    server = EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-history-memory-"), appendonly=False)
    url = server.start()
    try:
        settings = Settings.from_env({"REDIS_URL": url, "ROLLUPS": args.rollups, "LOG_REQUESTS": "0"})
        built = build_stores(settings)
        store, client = built.readings, built.client
        client.memory_purge()
        baseline = client.info("memory")["used_memory"]
        today = int(time.time()) // DAY
        began = time.perf_counter()
        total = sent = 0
        for batch, raw in batches(args.shape, args.sensors, today - args.days, args.days, args.interval * 60):
            groups, count = parse_batch(batch, max_batch=BATCH, bucket_us=settings.bucket_seconds * 1_000_000)
            apply_sensor_units(groups, store.sensor_meta(groups)[0], batch)
            total += store.ingest(groups)
            sent += count
            client.delete(*raw)  # only the tiers stay
        elapsed = time.perf_counter() - began
        client.memory_purge()
        after = client.info("memory")["used_memory"]
        tiers = {f"{seconds}s": measure_tier(client, seconds) for seconds, _ in settings.rollups}
        client.memory_purge()
        left = client.info("memory")["used_memory"]
        result = {
            "redis": client.info("server")["redis_version"],
            "shape": args.shape,
            "sensors": args.sensors,
            "days": args.days,
            "interval_minutes": args.interval,
            "rollups": args.rollups,
            "readings_sent": sent,
            "readings_accepted": total,
            "raw_keys_left": sum(1 for _ in client.scan_iter(match=f"sensor:{{*}}{keys.READINGS_SUFFIX}*", count=1000)),
            "used_memory_growth_bytes": after - baseline,
            "used_memory_after_tiers_deleted_bytes": left - baseline,
            "tiers": tiers,
            "ingest_seconds": round(elapsed, 1),
            "readings_per_s": round(sent / elapsed),
        }
    finally:
        server.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["readings_accepted"] == result["readings_sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
