"""Live data of energy sites: Redis memory per entry and ingest cost.

Starts its own redis-server (loopback, no persistence), posts one year of
10-minute entries (52,560) to one site through the Flask app in posts of
one day (144 entries, the column form), then reports:

- bytes of Redis memory per live entry (MEMORY USAGE of the site's sorted
  set, exact: SAMPLES 0), and of the site record with one configuration;
- wall time per post and entries per second in one process (validation +
  Lua script + round trip), and the time of GET .../live/latest.

Usage: .venv/bin/python -m bench.sites_live [--days 365]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta

from service import create_app, keys
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores

CONFIG = {
    "battery": {"vendor": "Tesla", "capacity_kwh": 3100, "max_power_kw": 400},
    "production": {"pv": {"units": 1, "kwp": 500}, "bio": {"units": 0}, "cro": {"units": 2, "kwp": 800}},
}


def day_of_entries(day: datetime) -> dict:
    stamps = [day + timedelta(minutes=10 * i) for i in range(144)]
    return {
        "dt-stamp": [s.strftime("%Y-%m-%d %H:%M:%S") for s in stamps],
        "soc": [round(i * 100 / 143, 1) for i in range(144)],
        "load_kwh": [350.5 + i for i in range(144)],
        "net_load_kwh": [400.25 + i for i in range(144)],
        "pv_notification": [i % 2 == 0 for i in range(144)],
        "bio_notification": [False] * 144,
        "cro_notification": [i % 3 == 0 for i in range(144)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedRedis(data_dir, appendonly=False)
        server.start()
        try:
            run(server.url, args.days)
        finally:
            server.stop()


def run(redis_url: str, days: int) -> None:
    app = create_app(Settings(redis_url=redis_url, log_requests=False, log_level="WARNING"))
    client = app.test_client()
    redis = stores(app).client
    redis.flushall()
    assert client.post("/v1/sites", json={"id": "bench", "name": "Bench", "location": "north"}).status_code == 201
    assert client.put("/v1/sites/bench/configuration", json=CONFIG).status_code == 201

    bodies = [day_of_entries(datetime(2023, 1, 1) + timedelta(days=d)) for d in range(days)]
    post_seconds = []
    for body in bodies:
        started = time.perf_counter()
        response = client.post("/v1/sites/bench/live", json=body)
        post_seconds.append(time.perf_counter() - started)
        assert response.json == {"accepted": 144, "duplicates": 0}, response.json

    started = time.perf_counter()
    response = client.post("/v1/sites/bench/live", json=bodies[0])
    resend_seconds = time.perf_counter() - started
    assert response.json == {"accepted": 0, "duplicates": 144}

    latest_seconds = []
    for _ in range(200):
        started = time.perf_counter()
        assert client.get("/v1/sites/bench/live/latest").status_code == 200
        latest_seconds.append(time.perf_counter() - started)

    entries = days * 144
    live_bytes = redis.memory_usage(keys.site_live("bench"), samples=0)
    record_bytes = redis.memory_usage(keys.site("bench"), samples=0)
    config_bytes = redis.memory_usage(keys.site_configurations("bench"), samples=0)
    member = redis.zrange(keys.site_live("bench"), -1, -1)[0]
    print(f"entries stored                 {entries}")
    print(f"live sorted set                {live_bytes} B = {live_bytes / entries:.1f} B per entry")
    print(f"one member (compact JSON)      {len(member)} B: {member.decode()}")
    print(f"site record hash               {record_bytes} B (with one configuration)")
    print(f"configuration list (1 version) {config_bytes} B")
    median = statistics.median(post_seconds)
    print(
        f"POST live, 144 entries         median {median * 1000:.2f} ms, "
        f"p95 {sorted(post_seconds)[int(len(post_seconds) * 0.95)] * 1000:.2f} ms "
        f"=> {144 / median:,.0f} entries/s in one process"
    )
    print(f"same day re-sent (duplicates)  {resend_seconds * 1000:.2f} ms")
    print(f"GET live/latest                median {statistics.median(latest_seconds) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
