"""Unfiltered GET /v1/sensors and GET /sensors (the dashboard's overview):
the time of one page as the fleet grows.

    PYTHONPATH=. .venv/bin/python bench/sensor_listing.py [largest fleet]

On an embedded redis-server and the Flask app in process (no HTTP), marks
10,000, 100,000 and 1,000,000 sensors (up to the given size) as heard of,
as ingest does (``sensors:seen`` and ``sensors:ids``), then times the first
page of 100 and the page after it (best of three), and the same for the
overview's pages of 1,000 (its first page ranks the whole fleet, the pages
after it reuse that ranking), beside ``GET /livez`` in the same run. At the largest size it
also times a page while the index is not filled yet (every id read, as
before it existed) and the background worker's one-time fill of
``sensors:ids`` from ``sensors:seen``.
"""

from __future__ import annotations

import sys
import tempfile
import time

from service import create_app, keys
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores

FLEETS = (10_000, 100_000, 1_000_000)


def best_of_three(client, path: str) -> tuple[float, dict]:
    best, body = float("inf"), {}
    for _ in range(3):
        started = time.perf_counter()
        response = client.get(path)
        best = min(best, time.perf_counter() - started)
        assert response.status_code in (200, 204), response.get_data(as_text=True)[:200]
        body = response.get_json(silent=True)
    return best, body


def main(largest: int) -> None:
    with EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-bench-"), appendonly=False) as server:
        app = create_app(Settings(redis_url=server.url, log_level="WARNING", log_requests=False))
        redis_client, client = stores(app).client, app.test_client()
        now = time.time()
        redis_client.set(keys.SENSOR_IDS_COMPLETE, 1)
        for fleet in (size for size in FLEETS if size <= largest):
            pipe = redis_client.pipeline(transaction=False)
            for n in range(redis_client.zcard(keys.SENSORS_SEEN), fleet):
                pipe.zadd(keys.SENSORS_SEEN, {f"sensor-{n:07d}": now})
                pipe.zadd(keys.SENSOR_IDS, {f"sensor-{n:07d}": 0}, nx=True)
                if len(pipe) >= 10_000:
                    pipe.execute()
            pipe.execute()
            first, body = best_of_three(client, "/v1/sensors?limit=100")
            following, _ = best_of_three(client, f"/v1/sensors?limit=100&cursor={body['next_cursor']}")
            print(f"{fleet:>9,} sensors: first page {first * 1000:6.1f} ms, next page {following * 1000:6.1f} ms")
            livez, _ = best_of_three(client, "/livez")
            first, body = best_of_three(client, "/sensors?limit=1000")
            following, _ = best_of_three(client, f"/sensors?limit=1000&cursor={body['next_cursor']}")
            print(f"{fleet:>9,} sensors, GET /sensors: first page {first * 1000:6.1f} ms ({first / livez:,.0f}x /livez), "
                  f"next page {following * 1000:6.1f} ms ({following / livez:,.0f}x /livez)")
        redis_client.delete(keys.SENSOR_IDS, keys.SENSOR_IDS_COMPLETE)
        unfilled, _ = best_of_three(client, "/v1/sensors?limit=100")
        print(f"index not filled yet: a page {unfilled * 1000:6.0f} ms")
        registry, steps = stores(app).sensors, 1
        started = time.perf_counter()
        while registry.fill_id_index():
            steps += 1
        print(f"one-time fill of sensors:ids, {redis_client.zcard(keys.SENSOR_IDS):,} sensors: "
              f"{time.perf_counter() - started:.1f} s in {steps} steps")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else FLEETS[-1])
