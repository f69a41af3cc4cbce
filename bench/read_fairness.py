"""Read fairness: does every keep-alive connection get served?

Starts `make run`'s server (2 gevent workers, embedded Redis), loads 1,000
sensors, then runs wrk with one connection per wrk thread
(bench/per_connection.lua counts the answers of each) at 16, 64 and 256
connections against GET /livez and GET /statistics/<random sensor>, and
reports the rate, p50 and p99 and the answers per connection: fewest,
median, most, and how many connections got none. Extra arguments NAME=VALUE
go to the server's environment (e.g. GUNICORN_KEEPALIVE_REQUESTS=0).

    python bench/read_fairness.py
    python bench/read_fairness.py GUNICORN_WORKER_CLASS=gthread
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import SpawnedService, generate  # noqa: E402

HERE = Path(__file__).resolve().parent
ROUTES = {"livez": "/livez", "statistics": "/statistics/sensor-%05d"}


def run(url: str, connections: int, path: str, seconds: int = 5) -> dict:
    command = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--latency",
               "-s", str(HERE / "per_connection.lua")]
    command += [url + path] if "%" not in path else [url, "--", path, "1000"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    counts = sorted(int(n) for n in re.search(r"per-connection: (.*)", output).group(1).split())
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    return {
        "req_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))),
        "p50": latency.get("50"), "p99": latency.get("99"),
        "answers_per_connection": {"fewest": counts[0], "median": statistics.median(counts), "most": counts[-1]},
        "connections_without_answer": sum(1 for n in counts if n == 0),
    }


def main() -> int:
    env = dict(arg.split("=", 1) for arg in sys.argv[1:])
    server = SpawnedService(env).start()
    results = {"env": env}
    try:
        with requests.Session() as session:
            for body in generate(1000, 30, 500, 0.0, 0.0, seed=3):
                session.post(f"{server.url}/data", data=body, headers={"Content-Type": "application/json"}).raise_for_status()
        for connections in (16, 64, 256):
            for name, path in ROUTES.items():
                results[f"{name}@{connections}"] = run(server.url, connections, path)
                print(json.dumps({f"{name}@{connections}": results[f"{name}@{connections}"]}), file=sys.stderr)
    finally:
        server.stop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
