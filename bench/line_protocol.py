"""Line protocol writes beside POST /data: readings/s of the same readings
sent both ways, in the same run, and the ratio.

The load is bench/ingest.py's many-sensors-per-batch shape (batches of 500
readings of 400 sensors behind one gateway, 10 % re-sent copies, 5 % late);
each JSON batch is also written as line protocol, one line a reading
(``sensorhub,sensor=sensor-00042 value=21.5 1793491200000000000``), before
timing. One `make run`-like service (gunicorn, 2 workers, embedded Redis)
takes every run; each run posts both variants, each on an emptied Redis
(FLUSHALL), which goes first alternating, and checks sampled statistics
for exactness afterwards. Besides readings/s it reports the CPU the web
workers and Redis spent per reading (from /proc and INFO): on a machine
shared with other work, wall-clock throughput swings from run to run, CPU
per reading much less.

Before the runs it also measures, in this process, what each front costs per
reading before Redis: orjson + the batch checker for a JSON body,
``parse_lines`` for its line protocol twin (``--profile`` prints cProfile's
top functions of the latter).

    python bench/line_protocol.py --spawn
    python bench/line_protocol.py --spawn --runs 9 --minutes 40 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from line_protocol_parser import parse_line  # noqa: E402

from bench.ingest import SpawnedService, check, generate  # noqa: E402
from service import timeutil  # noqa: E402
from service.lineproto.parsing import parse_lines  # noqa: E402
from service.readings.validation import parse_batch  # noqa: E402

BUCKET_US = 3600 * 1_000_000
VARIANTS = {
    # name: (path, Content-Type, status of success)
    "json": ("/data", "application/json", 200),
    "line_protocol": ("/api/v2/write?org=bench&bucket=bench", "text/plain; charset=utf-8", 204),
}


def as_line_protocol(body: bytes) -> bytes:
    """The readings of a POST /data body as line protocol, nanoseconds."""
    lines = []
    for item in orjson.loads(body):
        ns = timeutil.parse_instant(item["timestamp"])[0] * 1000
        lines.append(f"sensorhub,sensor={item['sensor']} value={item['value']!r} {ns}")
    return "\n".join(lines).encode()


def worker_cpu_seconds(master_pid: int) -> float:
    """User + system CPU seconds of the gunicorn master's children (its workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def redis_cpu_seconds(client) -> float:
    cpu = client.info("cpu")
    return cpu["used_cpu_sys"] + cpu["used_cpu_user"]


def post_all(url: str, path: str, content_type: str, ok: int, bodies: list[bytes], connections: int):
    parts = urlsplit(url)
    queue = list(reversed(bodies))
    lock = threading.Lock()
    errors = []

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            payload = response.read()
            if response.status != ok:
                with lock:
                    errors.append((response.status, payload[:200]))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, errors


def split_parse(line: bytes):
    """The least a hand-written parser must do, for the simplest lines only
    (no escapes, no quoted strings, float fields): the parser choice is
    measured against it (docs/decisions.md)."""
    head, fields, stamp = line.split(b" ")
    measurement, *tags = head.split(b",")
    tag_values = {key.decode(): value.decode() for key, value in (tag.split(b"=", 1) for tag in tags)}
    values = {key.decode(): float(value) for key, value in (field.split(b"=", 1) for field in fields.split(b","))}
    return measurement.decode(), tag_values, values, int(stamp)


def parser_costs(lines: list[bytes], repeats: int = 10) -> dict:
    """µs per line of line-protocol-parser and of ``split_parse`` (best of ``repeats``)."""
    every = [line for body in lines for line in body.split(b"\n")]
    best = {}
    for _ in range(repeats):
        for name, parse in (("line_protocol_parser_us_per_line", parse_line), ("hand_split_us_per_line", split_parse)):
            began = time.perf_counter()
            for line in every:
                parse(line)
            best[name] = min(best.get(name, float("inf")), (time.perf_counter() - began) * 1e6 / len(every))
    return {name: round(us, 2) for name, us in best.items()}


def front_costs(bodies: list[bytes], lines: list[bytes], readings: int, profile: bool, repeats: int = 10) -> dict:
    """µs per reading of each front's parse and check, in this process: the
    best of ``repeats`` passes over all bodies (other load only slows a pass)."""
    now = timeutil.now_us()
    json_us = line_us = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        for body in bodies:
            parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=BUCKET_US)
        json_us = min(json_us, (time.perf_counter() - began) * 1e6 / readings)
        began = time.perf_counter()
        for body in lines:
            parse_lines(body, precision="ns", now_us=now, max_batch=10_000, bucket_us=BUCKET_US)
        line_us = min(line_us, (time.perf_counter() - began) * 1e6 / readings)
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for body in lines:
            parse_lines(body, precision="ns", now_us=now, max_batch=10_000, bucket_us=BUCKET_US)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(8)
    return {"json_us_per_reading": round(json_us, 2), "line_protocol_us_per_reading": round(line_us, 2),
            "added_us_per_reading": round(line_us - json_us, 2)}


def timed_run(run: int, variant: str, bodies: list[bytes], posted: int, url: str, client, master, args) -> dict:
    """Post ``bodies`` as ``variant`` on an emptied Redis; readings/s, CPU per reading, exactness."""
    path, content_type, ok = VARIANTS[variant]
    if client is not None:
        client.flushall()
        redis_before = redis_cpu_seconds(client)
    web_before = worker_cpu_seconds(master) if master else 0.0
    elapsed, errors = post_all(url, path, content_type, ok, bodies, args.connections)
    web_cpu = worker_cpu_seconds(master) - web_before if master else None
    redis_cpu = redis_cpu_seconds(client) - redis_before if client is not None else None
    problems = check(url, args.sensors, args.minutes, args.sample, args.seed)
    result = {
        "variant": variant, "readings_per_s": round(posted / elapsed), "seconds": round(elapsed, 2),
        "web_cpu_us_per_reading": round(web_cpu * 1e6 / posted, 2) if web_cpu is not None else None,
        "redis_cpu_us_per_reading": round(redis_cpu * 1e6 / posted, 2) if redis_cpu is not None else None,
        "errors": len(errors), "exact": not problems and not errors,
    }
    print(json.dumps({"run": run + 1, **result}), file=sys.stderr)
    for problem in (problems + [str(e) for e in errors])[:5]:
        print("PROBLEM", problem, file=sys.stderr)
    return result


def capacity_ratio(cpu: dict) -> float | None:
    spent = {v: sum(us for us in cpu[v].values() if us is not None) for v in VARIANTS}
    return round(spent["json"] / spent["line_protocol"], 3) if spent["line_protocol"] else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawn", action="store_true", help="start gunicorn (2 workers) with an embedded Redis")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="without --spawn")
    parser.add_argument("--redis-url", default=None, help="without --spawn: the server's Redis, flushed between runs")
    parser.add_argument("--gunicorn-pid", type=int, default=None, help="without --spawn: the master, for worker CPU")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--gateway-size", type=int, default=400)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3, help="runs per variant; medians are reported")
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile of parse_lines over the bodies")
    args = parser.parse_args()

    bodies = generate(args.sensors, args.minutes, args.batch, 0.10, 0.05, args.seed, args.gateway_size)
    lines = [as_line_protocol(body) for body in bodies]
    posted = sum(body.count(b'"sensor"') for body in bodies)
    print(f"{len(bodies)} batches, {posted} readings", file=sys.stderr)
    fronts = {**front_costs(bodies, lines, posted, args.profile), **parser_costs(lines)}
    print(json.dumps({"in_process": fronts}), file=sys.stderr)

    sent = {"json": bodies, "line_protocol": lines}
    runs = []
    server = SpawnedService().start() if args.spawn else None
    url = server.url if server else args.url
    redis_url = server.redis_url if server else args.redis_url
    master = server.web.process.pid if server else args.gunicorn_pid
    client = redis.Redis.from_url(redis_url) if redis_url else None
    try:
        for run in range(args.runs):
            # Alternating which goes first cancels a drift of the machine's load.
            order = list(VARIANTS) if run % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                runs.append(timed_run(run, variant, sent[variant], posted, url, client, master, args))
    finally:
        if server is not None:
            server.stop()

    def median(variant: str, key: str) -> float:
        values = [r[key] for r in runs if r["variant"] == variant and r[key] is not None]
        return statistics.median(values) if values else None

    medians = {v: median(v, "readings_per_s") for v in VARIANTS}
    cpu = {v: {key: median(v, key) for key in ("web_cpu_us_per_reading", "redis_cpu_us_per_reading")} for v in VARIANTS}
    by_run = [{r["variant"]: r["readings_per_s"] for r in runs[i : i + 2]} for i in range(0, len(runs), 2)]
    pairs = [pair["line_protocol"] / pair["json"] for pair in by_run]
    summary = {
        "load": {k: getattr(args, k) for k in ("sensors", "minutes", "batch", "gateway_size", "connections")},
        "posted_readings": posted,
        "median_readings_per_s": medians,
        "ratio_of_medians": round(medians["line_protocol"] / medians["json"], 3),
        "per_run_ratios": [round(r, 3) for r in pairs],
        "median_of_per_run_ratios": round(statistics.median(pairs), 3),
        "median_cpu_us_per_reading": cpu,
        # Readings a given CPU takes in, line protocol to JSON (web workers + Redis).
        "cpu_capacity_ratio": capacity_ratio(cpu),
        "in_process": fronts,
        "all_exact": all(r["exact"] for r in runs),
        "runs": runs,
    }
    print(json.dumps(summary, indent=2))
    return 0 if summary["all_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
