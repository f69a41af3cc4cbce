"""CPU per request: sensorhub's GET /livez and GET /statistics against the
ceiling's constant Flask route, in one run.

Starts the ceiling of bench/peers (Flask under gunicorn, 2 workers, gthread
4) and `make run`'s server (2 gevent workers, embedded Redis, no background
worker), loads 1,000 sensors, runs wrk at each of ``--connections`` and
reads the CPU the web processes used from /proc: the difference between
sensorhub's /livez and the constant route is sensorhub's per-request
machinery (worker model, request ids, access log, metrics, compression's
check), the difference between /statistics and /livez the Redis read.
Extra NAME=VALUE arguments go to sensorhub's environment.

    python bench/request_cpu.py
    python bench/request_cpu.py --connections 16,64,256 GUNICORN_WORKER_CLASS=gthread
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import SpawnedService, generate  # noqa: E402
from bench.peers import Ceiling, running, tree_cpu_seconds, wrk  # noqa: E402


def measured(url: str, pid: int, path_format: str | None, connections: int, seconds: int) -> dict:
    before = tree_cpu_seconds(pid)
    result = wrk(url, path_format, connections, seconds, 1000)
    result["cpu_us_per_request"] = round((tree_cpu_seconds(pid) - before) * 1e6 / max(result["req_per_s"] * seconds, 1))
    return result


def one_round(connections: list[int], seconds: int, env: dict) -> dict:
    result = {}
    with running(Ceiling()) as ceiling:
        for c in connections:
            result[f"ceiling@{c}"] = measured(ceiling.url, ceiling.web_pid, "/statistics/sensor-%05d", c, seconds)
    service = SpawnedService(env).start()
    try:
        with requests.Session() as session:
            for body in generate(1000, 3, 500, 0.0, 0.0, 7):
                session.post(f"{service.url}/data", data=body,
                             headers={"Content-Type": "application/json"}).raise_for_status()
        pid = service.web.process.pid
        for c in connections:
            result[f"livez@{c}"] = measured(f"{service.url}/livez", pid, None, c, seconds)
            result[f"statistics@{c}"] = measured(service.url, pid, "/statistics/sensor-%05d", c, seconds)
    finally:
        service.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="16")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("env", nargs="*", help="NAME=VALUE for sensorhub's environment")
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    env = {"WORKER": "0", **dict(item.split("=", 1) for item in args.env)}
    rounds = []
    for number in range(args.rounds):
        rounds.append(one_round(connections, args.seconds, env))
        print(json.dumps({"round": number + 1, **rounds[-1]}), file=sys.stderr)
    summary = {"env": env}
    for c in connections:
        cpu = {name: [r[f"{name}@{c}"]["cpu_us_per_request"] for r in rounds]
               for name in ("ceiling", "livez", "statistics")}
        summary[f"{c} connections"] = {
            "cpu_us_per_request": {name: statistics.median(values) for name, values in cpu.items()},
            "machinery_us_per_round": [lz - ce for lz, ce in zip(cpu["livez"], cpu["ceiling"], strict=True)],
            "statistics_over_ceiling_req_per_s_per_round": [
                round(r[f"statistics@{c}"]["req_per_s"] / r[f"ceiling@{c}"]["req_per_s"], 3) for r in rounds],
        }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
