"""Line protocol writes beside POST /data: readings/s of the same readings
sent both ways, in the same run, and the ratio.

The load is bench/ingest.py's many-sensors-per-batch shape (batches of 500
readings of 400 sensors behind one gateway, 10 % re-sent copies, 5 % late);
each JSON batch is also written as line protocol, one line a reading
(``sensorhub,sensor=sensor-00042 value=21.5 1793491200000000000``), before
timing. Each run posts one variant on a fresh `make run`-like service
(gunicorn, 2 workers, embedded Redis), JSON and line protocol alternating,
and checks sampled statistics for exactness afterwards.

Before the runs it also measures, in this process, what each front costs per
reading before Redis: orjson + the batch checker for a JSON body,
``parse_lines`` for its line protocol twin (``--profile`` prints cProfile's
top functions of the latter).

    python bench/line_protocol.py --spawn
    python bench/line_protocol.py --spawn --runs 5 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import pstats
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def front_costs(bodies: list[bytes], lines: list[bytes], readings: int, profile: bool) -> dict:
    """µs per reading of each front's parse and check, in this process."""
    began = time.perf_counter()
    for body in bodies:
        parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=BUCKET_US)
    json_us = (time.perf_counter() - began) * 1e6 / readings
    now = timeutil.now_us()
    began = time.perf_counter()
    for body in lines:
        parse_lines(body, precision="ns", now_us=now, max_batch=10_000, bucket_us=BUCKET_US)
    line_us = (time.perf_counter() - began) * 1e6 / readings
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for body in lines:
            parse_lines(body, precision="ns", now_us=now, max_batch=10_000, bucket_us=BUCKET_US)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(8)
    return {"json_us_per_reading": round(json_us, 2), "line_protocol_us_per_reading": round(line_us, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawn", action="store_true", help="start gunicorn (2 workers) with an embedded Redis per run")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="without --spawn (flush Redis between runs yourself)")
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
    fronts = front_costs(bodies, lines, posted, args.profile)
    print(json.dumps({"in_process": fronts}), file=sys.stderr)

    sent = {"json": bodies, "line_protocol": lines}
    runs = []
    for run in range(args.runs):
        for variant, (path, content_type, ok) in VARIANTS.items():
            server = SpawnedService().start() if args.spawn else None
            url = server.url if server else args.url
            try:
                elapsed, errors = post_all(url, path, content_type, ok, sent[variant], args.connections)
                problems = check(url, args.sensors, args.minutes, args.sample, args.seed)
            finally:
                if server is not None:
                    server.stop()
            result = {"variant": variant, "readings_per_s": round(posted / elapsed), "seconds": round(elapsed, 2),
                      "errors": len(errors), "exact": not problems and not errors}
            runs.append(result)
            print(json.dumps({"run": run + 1, **result}), file=sys.stderr)
            for problem in (problems + [str(e) for e in errors])[:5]:
                print("PROBLEM", problem, file=sys.stderr)

    medians = {v: statistics.median(r["readings_per_s"] for r in runs if r["variant"] == v) for v in VARIANTS}
    pairs = [runs[i + 1]["readings_per_s"] / runs[i]["readings_per_s"] for i in range(0, len(runs), 2)]
    summary = {
        "load": {k: getattr(args, k) for k in ("sensors", "minutes", "batch", "gateway_size", "connections")},
        "posted_readings": posted,
        "median_readings_per_s": medians,
        "ratio_of_medians": round(medians["line_protocol"] / medians["json"], 3),
        "per_run_ratios": [round(r, 3) for r in pairs],
        "in_process": fronts,
        "all_exact": all(r["exact"] for r in runs),
        "runs": runs,
    }
    print(json.dumps(summary, indent=2))
    return 0 if summary["all_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
