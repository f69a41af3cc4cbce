"""GET /statistics while POST /data runs flat out, against the same reads idle.

For each setting compared (default: INGEST_CONCURRENCY 0, i.e. no limit,
and 1), alternating, ``--rounds`` times: starts `make run`'s server (2 gevent
workers, embedded Redis) with that setting, stores 20 batches, runs wrk at
16 connections on GET /statistics/<random sensor> for ``--seconds`` idle,
then again while 8 keep-alive connections post bench/ingest.py's bodies
(many sensors per batch, readings of the last two hours) as fast as the
server takes them. Reports, per setting, the medians of reads with ingest
÷ reads idle (same server, same minute), their p99, and the ingest rate
meanwhile.

    python bench/read_under_ingest.py
    python bench/read_under_ingest.py --values 0,1,2 --rounds 3
    python bench/read_under_ingest.py --setting SOME_SETTING --values a,b   # any setting compared
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import SpawnedService, generate, post_all  # noqa: E402
from bench.peers import wrk  # noqa: E402


def one_run(bodies: list[bytes], env: dict, seconds: int) -> dict:
    service = SpawnedService(env).start()
    try:
        for body in bodies[:20]:
            requests.post(f"{service.url}/data", data=body, headers={"Content-Type": "application/json"}).raise_for_status()
        idle = wrk(service.url, "/statistics/sensor-%05d", 16, seconds, 1000)
        stop = time.monotonic() + seconds + 2
        posted = {"readings": 0, "errors": 0}

        def ingest():
            position = 20
            while time.monotonic() < stop:
                chunk = bodies[position : position + 16] or bodies[20:36]
                position += 16
                _, _, totals = post_all(service.url, chunk, 8)
                posted["readings"] += sum(body.count(b'"sensor"') for body in chunk)
                posted["errors"] += totals["errors"]

        loader = threading.Thread(target=ingest)
        loader.start()
        time.sleep(1)
        began, before = time.monotonic(), posted["readings"]
        busy = wrk(service.url, "/statistics/sensor-%05d", 16, seconds, 1000)
        rate = (posted["readings"] - before) / (time.monotonic() - began)
        loader.join()
    finally:
        service.stop()
    return {"idle": idle, "with_ingest": busy, "ratio": round(busy["req_per_s"] / idle["req_per_s"], 3),
            "ingest_readings_per_s": round(rate), "ingest_errors": posted["errors"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", default="0,1", help="INGEST_CONCURRENCY values compared")
    parser.add_argument("--setting", default="INGEST_CONCURRENCY", help="the environment variable compared")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=119)
    bodies = generate(1000, 120, 500, 0.10, 0.05, 7, 400, first)
    values = args.values.split(",")
    runs = {value: [] for value in values}
    for number in range(args.rounds):
        for value in values if number % 2 == 0 else values[::-1]:
            run = one_run(bodies, {args.setting: value}, args.seconds)
            runs[value].append(run)
            print(json.dumps({args.setting: value, **run}), file=sys.stderr)
    summary = {
        value: {
            "reads_with_ingest_over_idle": statistics.median(r["ratio"] for r in rs),
            "per_round": [r["ratio"] for r in rs],
            "p99_ms_with_ingest": statistics.median(r["with_ingest"]["p99_ms"] for r in rs),
            "p99_ms_idle": statistics.median(r["idle"]["p99_ms"] for r in rs),
            "ingest_readings_per_s": statistics.median(r["ingest_readings_per_s"] for r in rs),
            "errors": sum(r["ingest_errors"] + r["idle"]["non_2xx"] + r["with_ingest"]["non_2xx"] for r in rs),
        }
        for value, rs in runs.items()
    }
    print(json.dumps(summary, indent=2))
    return 1 if any(s["errors"] for s in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
