"""Read benchmark: GET /statistics of random sensors vs a constant route.

Loads 1,000 sensors (180 readings each), then runs wrk (Debian package
`wrk`) at 16 connections against GET /statistics/<random sensor> and against
GET /livez (a constant answer of the same app) in the same run, three
times, and reports median req/s and p99 latency of both and their ratio.

    python bench/read.py --spawn
    python bench/read.py --url http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import SpawnedService, generate  # noqa: E402

HERE = Path(__file__).resolve().parent
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


RANDOM_PATH = HERE / "random_path.lua"


def wrk(url: str, connections: int, seconds: int, path_format: str | None = None, paths: int = 1000) -> dict:
    """wrk against ``url``, or against a random one of ``paths`` paths made
    from ``path_format`` (e.g. ``/statistics/sensor-%05d``) on its host."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if path_format:
        command += ["-s", str(RANDOM_PATH), url, "--", path_format, str(paths)]
    else:
        command.append(url)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests_done = int(re.search(r"(\d+) requests in", output).group(1))
    return {"req_per_s": round(rate), "p99_ms": round(float(value) * UNITS[unit], 2),
            "non_2xx": int(errors.group(1)) if errors else 0, "requests": requests_done}


def wrk_benchmark(description: str, seconds: int, add_options=None):
    """Command line of a wrk benchmark (``add_options(parser)`` adds a
    benchmark's own); returns (args, spawned server or None, url)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if add_options:
        add_options(parser)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--spawn", action="store_true", help="start gunicorn (2 workers) with an embedded Redis")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=seconds)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    server = SpawnedService().start() if args.spawn else None
    return args, server, server.url if server else args.url


def medians(runs: list[dict], routes, keys=("req_per_s", "p99_ms")) -> dict:
    """Per route, the median over the runs of each of ``keys`` of its wrk result."""
    return {route: {key: statistics.median(run[route][key] for run in runs) for key in keys} for route in routes}


def report(summary: dict, json_path: Path | None) -> None:
    """Print a benchmark's summary, and write it to ``json_path`` (--json) if given."""
    text = json.dumps(summary, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text)


def main() -> int:
    args, server, url = wrk_benchmark(__doc__, seconds=10)
    try:
        with requests.Session() as session:
            for body in generate(1000, 180, 500, 0.0, 0.0, seed=3):
                session.post(f"{url}/data", data=body, headers={"Content-Type": "application/json"}).raise_for_status()
        runs = []
        for run in range(args.runs):
            result = {
                "statistics": wrk(url, args.connections, args.seconds, "/statistics/sensor-%05d"),
                "constant": wrk(f"{url}/livez", args.connections, args.seconds),
            }
            runs.append(result)
            print(json.dumps({"run": run + 1, **result}), file=sys.stderr)
    finally:
        if server:
            server.stop()
    median = medians(runs, ("statistics", "constant"))
    summary = {
        "connections": args.connections,
        "median": median,
        "p99_ratio": round(median["statistics"]["p99_ms"] / median["constant"]["p99_ms"], 2),
        "req_ratio": round(median["statistics"]["req_per_s"] / median["constant"]["req_per_s"], 2),
        "runs": runs,
    }
    report(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
