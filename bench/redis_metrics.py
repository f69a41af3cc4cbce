"""Cost of timing Redis round trips (sensorhub_redis_command_seconds) on
POST /data, measured in one process so that a busy machine slows both
sides alike: two apps on one redis-server, one with REDIS_COMMAND_METRICS
on and one with it off, requests alternating between them, Prometheus in
multi-process mode as under gunicorn.

    python bench/redis_metrics.py                 # batches of 50 readings
    python bench/redis_metrics.py --batch 500

Each request posts new readings (a fresh minute for each of BATCH sensors),
so every one takes the whole ingest path; the summary gives the median
request time of each side and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# prometheus_client picks multi-process mode at import (as gunicorn.conf.py does).
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sensorhub-bench-metrics-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from service import create_app  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.settings import Settings  # noqa: E402


def body(batch: int, minute: int, offset: int) -> bytes:
    stamp = f"2026-11-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
    return orjson.dumps([{"sensor": f"s-{offset + n}", "timestamp": stamp, "value": minute + n} for n in range(batch)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=50, help="readings per request")
    parser.add_argument("--requests", type=int, default=3000, help="requests per side")
    args = parser.parse_args()
    with EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-bench-"), unix_socket=False, appendonly=False) as redis:
        base = Settings(redis_url=redis.url, log_requests=False, log_level="WARNING")
        sides = {
            "timed": create_app(base).test_client(),
            "untimed": create_app(base.replace(redis_command_metrics=False)).test_client(),
        }
        seconds: dict[str, list[float]] = {name: [] for name in sides}
        for number in range(args.requests + 100):  # the first 100 warm up
            for offset, (name, client) in enumerate(sides.items()):
                sent = body(args.batch, number, offset * args.batch)
                began = time.perf_counter()
                response = client.post("/data", data=sent, content_type="application/json")
                elapsed = time.perf_counter() - began
                assert response.status_code == 200, response.get_data(as_text=True)
                if number >= 100:
                    seconds[name].append(elapsed)
    medians = {name: statistics.median(values) * 1e6 for name, values in seconds.items()}
    print(json.dumps({
        "batch": args.batch,
        "requests_per_side": args.requests,
        "median_us": {name: round(value, 1) for name, value in medians.items()},
        "timed_over_untimed": round(medians["timed"] / medians["untimed"], 4),
        "added_us_per_request": round(medians["timed"] - medians["untimed"], 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
