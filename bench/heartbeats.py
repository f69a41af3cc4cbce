"""Heartbeat and offline-detection costs on an embedded redis-server.

    PYTHONPATH=. .venv/bin/python bench/heartbeats.py [sensors]

Measures heartbeats/s through the store (one client thread, no HTTP), and
the time of one detection pass that finds every sensor silent (each
transition claimed in Lua and published exactly once), then of a pass with
nothing new to do.
"""

from __future__ import annotations

import sys
import tempfile
import time

from service import create_app
from service.embedded_redis import EmbeddedRedis
from service.heartbeats.detector import OfflineDetector
from service.settings import Settings
from service.stores import stores


def main(sensors: int) -> None:
    with EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-bench-"), appendonly=False) as server:
        app = create_app(Settings(redis_url=server.url, log_level="WARNING", log_requests=False))
        store = stores(app).heartbeats
        detector = OfflineDetector(stores(app).client, store)
        t0 = time.time()
        start = time.perf_counter()
        for n in range(sensors):
            store.heartbeat(f"02:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}", now=t0)
        elapsed = time.perf_counter() - start
        print(f"heartbeats: {sensors} in {elapsed:.2f} s = {sensors / elapsed:,.0f}/s")
        start = time.perf_counter()
        events = detector.run_once(now=t0 + store.offline_after + 1)
        elapsed = time.perf_counter() - start
        print(f"detection pass, all {len(events)} silent: {elapsed:.2f} s = {len(events) / elapsed:,.0f} transitions/s")
        start = time.perf_counter()
        detector.run_once(now=t0 + store.offline_after + 2)
        print(f"next pass, nothing new: {(time.perf_counter() - start) * 1000:.1f} ms")
        stores(app).client.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
