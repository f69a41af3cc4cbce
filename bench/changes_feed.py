"""GET /sensors/changes, the dashboard's live feed, whole-fleet and for one org: the time of one answer.

    PYTHONPATH=. .venv/bin/python bench/changes_feed.py [fleet]

On an embedded redis-server and the Flask app in process (no HTTP), registers
a fleet (100,000 sensors by default) straight into Redis as the registry and
ingest leave it: 25 % of it in org ``big``, 1 % in org ``small``, the rest in
other orgs, every sensor heard an hour ago. Then times (median of 15) the
feed asked from a cursor 30 s ago: idle (nothing heard since); with 10
sensors of the org asked for heard since; and with those 10 behind 1,000,
10,000 or 50,000 sensors of other orgs heard since (an org's cursor moves
with its own changes only, so it may lie behind all the others' changes).
The whole fleet's feed is timed beside it (behind more than ``limit``
changes it answers ``complete: false`` at once).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from service import create_app, keys
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores

RUNS = 15
FOREIGN = (1_000, 10_000, 50_000)


def org_of(n: int, fleet: int) -> str:
    if n < fleet // 4:
        return "big"
    if n < fleet // 4 + fleet // 100:
        return "small"
    return f"other-{n % 7}"


def register(client, fleet: int, heard: float) -> dict[str, list[str]]:
    by_org: dict[str, list[str]] = {}
    pipe = client.pipeline(transaction=False)
    for n in range(fleet):
        sensor_id, org = f"s-{n:07d}", org_of(n, fleet)
        by_org.setdefault(org, []).append(sensor_id)
        pipe.hset(keys.sensor_meta(sensor_id), mapping={keys.SensorMeta.ORG: org, keys.SensorMeta.KIND: "co2"})
        pipe.sadd(keys.sensors_by("org", org), sensor_id)
        pipe.sadd(keys.SENSORS_REGISTERED, sensor_id)
        pipe.zadd(keys.SENSORS_SEEN, {sensor_id: heard})
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()
    return by_org


def median_ms(client, path: str) -> tuple[float, dict]:
    times, body = [], {}
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)[:200]
        body = response.get_json()
    return statistics.median(times) * 1000, body


def report(client, since_ms: int, label: str) -> None:
    cells = []
    for org in (None, "small", "big"):
        path = f"/sensors/changes?since={since_ms}" + (f"&org={org}" if org else "")
        took, body = median_ms(client, path)
        shown = "incomplete" if not body["complete"] else f"{len(body['sensors'])} sensors"
        cells.append(f"{org or 'whole fleet'} {took:6.1f} ms ({shown})")
    print(f"{label:<34} " + " | ".join(cells))


def main(fleet: int) -> None:
    with EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-bench-"), appendonly=False) as server:
        app = create_app(Settings(redis_url=server.url, log_level="WARNING", log_requests=False))
        redis_client, client = stores(app).client, app.test_client()
        now = time.time()
        by_org = register(redis_client, fleet, now - 3600)
        since = now - 30
        since_ms = int(since * 1000)
        print(f"{fleet:,} sensors; org big {len(by_org['big']):,}, org small {len(by_org['small']):,}")
        report(client, since_ms, "idle")
        own = by_org["small"][:10] + by_org["big"][:10]
        redis_client.zadd(keys.SENSORS_SEEN, dict.fromkeys(own, since + 10))
        report(client, since_ms, "10 of the org's own")
        others = [sensor for org, sensors in sorted(by_org.items()) if org.startswith("other") for sensor in sensors]
        for count in (count for count in FOREIGN if count <= len(others)):
            redis_client.zadd(keys.SENSORS_SEEN, dict.fromkeys(others[:count], since + 20))
            report(client, since_ms, f"10 own behind {count:,} of others")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
