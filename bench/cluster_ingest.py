"""Ingest on one Redis and on a local Redis Cluster, with and without WAIT.

For each setup it posts pre-built batches through the WSGI app in this
process (validation, Lua, pipelining; no HTTP server or network stack) and
reports:

- readings/s of one Python process (an upper bound for a gunicorn worker,
  which also parses HTTP);
- Redis CPU per reading, summed over the masters (INFO used_cpu_*), hence
  readings/s per Redis core;
- Redis memory per sensor and per retained reading (INFO used_memory,
  summed over the masters).

    PYTHONPATH=. .venv/bin/python bench/cluster_ingest.py --sensors 2000 --readings 30

Setups: ``single`` (one redis-server), ``single+wait`` (one replica,
REDIS_WAIT_REPLICAS=1), ``cluster`` (3 masters + 3 replicas),
``cluster+wait`` (REDIS_WAIT_REPLICAS=1).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import create_app  # noqa: E402
from service.embedded_cluster import EmbeddedCluster  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.stores import stores

START = datetime(2026, 11, 1, tzinfo=UTC)


def batches(sensors: int, readings: int, batch_size: int, first_minute: int) -> list[bytes]:
    """One reading a minute per sensor, minute-major, cut into bodies."""
    items = [
        {
            "sensor": f"bench-{n}",
            "timestamp": (START + timedelta(minutes=first_minute + minute)).isoformat().replace("+00:00", "Z"),
            "value": float(n % 97) + minute / 10,
        }
        for minute in range(readings)
        for n in range(sensors)
    ]
    return [orjson.dumps(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def masters(url: str, cluster: bool) -> list[redis.Redis]:
    if not cluster:
        return [redis.Redis.from_url(url)]
    probe = redis.Redis.from_url(url)
    nodes = probe.cluster("nodes")
    probe.close()
    return [redis.Redis(host=addr.split(":")[0], port=int(addr.split(":")[1].split("@")[0]))
            for addr, node in nodes.items() if "master" in node["flags"]]


def redis_cpu(nodes) -> float:
    total = 0.0
    for node in nodes:
        info = node.info("cpu")
        total += info["used_cpu_user"] + info["used_cpu_sys"]
    return total


def redis_memory(nodes) -> int:
    return sum(node.info("memory")["used_memory"] for node in nodes)


def post_all(client, bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        response = client.post("/data", data=body, headers={"Content-Type": "application/json"})
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.get_data()[:300]!r}")
    return time.perf_counter() - started


def run(name: str, url: str, cluster: bool, wait: int, args) -> dict:
    settings = Settings(
        redis_url=url, redis_cluster=cluster, log_requests=False, log_level="WARNING",
        redis_wait_replicas=wait, redis_wait_timeout_ms=1000,
    )
    app = create_app(settings)
    client = app.test_client()
    nodes = masters(url, cluster)
    memory_empty = redis_memory(nodes)
    # Phase 1: every sensor's first reading (creates the per-sensor keys).
    post_all(client, batches(args.sensors, 1, args.batch, 0))
    memory_sensors = redis_memory(nodes)
    # Phase 2, timed: the rest, one reading a minute per sensor.
    bodies = batches(args.sensors, args.readings - 1, args.batch, 1)
    readings = args.sensors * (args.readings - 1)
    cpu_before = redis_cpu(nodes)
    elapsed = post_all(client, bodies)
    cpu = redis_cpu(nodes) - cpu_before
    memory_full = redis_memory(nodes)
    stores(app).client.close()
    for node in nodes:
        node.close()
    per_reading = (memory_full - memory_sensors) / readings
    return {
        "setup": name,
        "readings/s (1 process)": readings / elapsed,
        "ms per batch": 1000 * elapsed / len(bodies),
        "Redis CPU us/reading": 1e6 * cpu / readings,
        "readings/s per Redis core": readings / cpu if cpu else float("nan"),
        "bytes/reading": per_reading,
        "bytes/sensor": (memory_sensors - memory_empty) / args.sensors - per_reading,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sensors", type=int, default=2000)
    parser.add_argument("--readings", type=int, default=30, help="readings per sensor (one a minute)")
    parser.add_argument("--batch", type=int, default=5000, help="readings per POST")
    parser.add_argument("--setups", default="single,single+wait,cluster,cluster+wait")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="sensorhub-bench-") as data_dir:
        for name in args.setups.split(","):
            if name.startswith("single"):
                with EmbeddedRedis(Path(data_dir) / name / "p", unix_socket=False, appendonly=False) as primary:
                    replica = EmbeddedRedis(Path(data_dir) / name / "r", unix_socket=False, appendonly=False)
                    with replica:
                        deadline = time.monotonic() + 10
                        probe = redis.Redis.from_url(replica.url)
                        probe.replicaof("127.0.0.1", primary.port)
                        while probe.info("replication").get("master_link_status") != "up":
                            if time.monotonic() > deadline:
                                raise RuntimeError("replica did not sync")
                            time.sleep(0.05)
                        probe.close()
                        results.append(run(name, primary.url, False, 1 if name.endswith("wait") else 0, args))
            else:
                with EmbeddedCluster(Path(data_dir) / name) as cluster:
                    results.append(run(name, cluster.url, True, 1 if name.endswith("wait") else 0, args))
    print(f"sensors={args.sensors} readings/sensor={args.readings} batch={args.batch}")
    columns = list(results[0])
    print(" | ".join(columns))
    for row in results:
        print(" | ".join(f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns))


if __name__ == "__main__":
    main()
