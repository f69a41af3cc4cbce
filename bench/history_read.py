"""History read benchmark: long series against GET /statistics, same run.

Loads SENSORS sensors with a year of hourly readings (one reading an hour,
so each hourly bucket holds one) and ten years of daily ones, posted with
their old timestamps (readings outside the last hour roll up into the tiers
in the call that accepts them). Then runs wrk (Debian package `wrk`) at
CONNECTIONS connections, alternating, three times each:

- GET /statistics/<random sensor> (the yardstick);
- a one-year hourly series (8,760 buckets, from the hourly tier and the
  raw readings of the last RETENTION);
- a ten-year daily series (3,650 buckets, from the daily tier).

and reports the median req/s and p99 of each, and each series' p99 as a
multiple of the statistics route's (goal: at most 10x), and the Redis
memory of the rendered copies the runs left shared (`shared_copies`: the
`:shown:` keys, MEMORY USAGE summed; with --spawn or --redis-url).

    python bench/history_read.py --spawn
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.read import medians, report, wrk, wrk_benchmark  # noqa: E402
from service.keys import RENDERED_SUFFIX  # noqa: E402

DAY = 86400


def _options(parser) -> None:
    parser.add_argument("--sensors", type=int, default=20)
    parser.add_argument("--redis-url", default=None, help="the service's Redis (implied by --spawn)")


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def readings(sensor: str, now: int):
    """A year of hourly readings, then nine more years of daily ones (a
    smooth signal with two decimals)."""
    hour0 = now // 3600 * 3600
    for h in range(1, 365 * 24 + 1):
        at = hour0 - h * 3600 + 17
        yield {"sensor": sensor, "timestamp": _iso(at), "value": round(20 + 3 * ((h % 24) / 24), 2)}
    for d in range(366, 3649):
        at = hour0 - d * DAY + 29
        yield {"sensor": sensor, "timestamp": _iso(at), "value": round(15 + (d % 365) / 40, 2)}


def load(url: str, sensors: int, now: int) -> int:
    posted = 0
    with requests.Session() as session:
        for s in range(sensors):
            batch = list(readings(f"hist-{s:05d}", now))
            for i in range(0, len(batch), 5000):
                reply = session.post(f"{url}/data", json=batch[i : i + 5000])
                reply.raise_for_status()
                posted += reply.json()["accepted"]
    return posted


def shared_copies(redis_url: str, sensors: int) -> dict:
    """Count and Redis memory of the rendered chunk copies shared through Redis."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{RENDERED_SUFFIX}*", count=1000))
    used = sum(client.memory_usage(key, samples=0) or 0 for key in keys)
    client.close()
    return {"keys": len(keys), "bytes": used, "bytes_per_sensor": round(used / sensors)}


def main() -> int:
    args, server, url = wrk_benchmark(__doc__, seconds=10, add_options=_options)
    now = int(time.time())
    routes = {
        "statistics": "/statistics/hist-%05d",
        "series_1y_hourly": f"/v1/sensors/hist-%05d/series?start={now - 365 * DAY}&bucket=1h",
        "series_10y_daily": f"/v1/sensors/hist-%05d/series?start={now - 3649 * DAY}&bucket=1d",
    }
    try:
        started = time.perf_counter()
        posted = load(url, args.sensors, now)
        print(json.dumps({"loaded_readings": posted, "seconds": round(time.perf_counter() - started, 1)}), file=sys.stderr)
        for name, path in routes.items():  # each answers, and says how much
            reply = requests.get(url + path.replace("%05d", "00000"), timeout=60)
            reply.raise_for_status()
            body = reply.json()
            print(json.dumps({"route": name, "points": len(body.get("points", [])),
                              "sources": body.get("sources")}), file=sys.stderr)
        runs = []
        for run in range(args.runs):
            result = {name: wrk(url, args.connections, args.seconds, path, args.sensors) for name, path in routes.items()}
            runs.append(result)
            print(json.dumps({"run": run + 1, **result}), file=sys.stderr)
        redis_url = server.redis_url if server else args.redis_url
        copies = shared_copies(redis_url, args.sensors) if redis_url else None
    finally:
        if server:
            server.stop()
    median = medians(runs, routes)
    base = median["statistics"]["p99_ms"]
    summary = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sensors": args.sensors,
        "connections": args.connections,
        "median": median,
        "p99_vs_statistics": {name: round(median[name]["p99_ms"] / base, 2) for name in routes if name != "statistics"},
        "shared_copies": copies,
        "runs": runs,
    }
    report(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
