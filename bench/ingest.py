"""Ingest benchmark: POST /data under a gateway-like load, then check exactness.

Load: SENSORS sensors behind gateways of GATEWAY_SIZE (50), one reading a
minute each; batches of BATCH readings (with 50: a gateway's sensors over 10
minutes, 10 readings per sensor; with --gateway-size 400: 1.25 readings of
each of 400 sensors, the shape a gateway flushing every minute sends) sent
over CONNECTIONS keep-alive connections. 10 % of each batch re-sends
readings already sent, written in another UTC offset (duplicates); 5 % of
readings arrive up to 24 h late. All bodies are generated before timing.

After the run it compares GET /statistics of sampled sensors with what the
generator knows they must be, and reports Redis memory per remembered
reading and Redis CPU per reading (from INFO).

    python bench/ingest.py --spawn            # starts `make run`'s server itself
    python bench/ingest.py --spawn --gateway-size 400   # many sensors per batch
    python bench/ingest.py --spawn --gateway-size 50,400   # both shapes, one after the other
    python bench/ingest.py --spawn --when backlog   # readings a month old (an import), not up to now
    python bench/ingest.py --url http://127.0.0.1:8080 --redis-url redis://...
    python bench/ingest.py --spawn --gzip     # plain and gzipped bodies, alternating
    python bench/ingest.py --spawn --epoch    # ISO and epoch-second timestamps, alternating
    python bench/ingest.py --spawn --redis-metrics   # Redis round trips timed or not, alternating
    python bench/ingest.py --spawn --compare REDIS_APPENDFSYNC=everysec   # any setting against the default

With --redis-metrics each run is done twice, on servers with Redis round
trips timed (the default) and with REDIS_COMMAND_METRICS=0; the summary
gives the ratio of their medians.

With --compare NAME=VALUE likewise, on servers started with that setting;
the summary gives the ratio of its median to the default's and the median
of each run's pair ratio.

With --gzip each run is done twice, plain JSON then the same bodies gzipped
(compressed before timing, level 6), each on a fresh database; the summary
gives both medians, their ratio and the server's added cost per reading.
With --epoch likewise: the same load with each reading's first copy
timestamped in integer epoch seconds (its re-sent copies stay ISO text in
another offset, so dedup across the two forms is checked too).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = datetime(2026, 11, 1, tzinfo=UTC)
OFFSETS = [timezone(timedelta(hours=h)) for h in (1, -5, 9, -8)] + [timezone(timedelta(hours=5, minutes=30))]
GATEWAY_SIZE = 50


def iso(moment: datetime, zone=UTC) -> str:
    text = moment.astimezone(zone).isoformat()
    return text.replace("+00:00", "Z")


def value_of(sensor: int, minute: int) -> float:
    return round(18 + (sensor % 7) + ((minute * 37 + sensor * 11) % 100) / 20, 2)


def generate(sensors: int, minutes: int, batch: int, dup_share: float, late_share: float, seed: int,
             gateway_size: int = GATEWAY_SIZE, first: datetime = START, epoch: bool = False):
    """Bodies (bytes) in send order, and the expected statistics per sensor;
    readings from ``first`` on, one a minute. With ``epoch`` a reading's
    first copy has its timestamp in epoch seconds (a JSON integer)."""
    first_s = int(first.timestamp())

    def stamp(minute: int):
        return first_s + 60 * minute if epoch else iso(first + timedelta(minutes=minute))

    rng = random.Random(seed)
    new_per_batch = round(batch * (1 - dup_share))
    gateways = [list(range(g, min(g + gateway_size, sensors))) for g in range(0, sensors, gateway_size)]
    per_gateway: list[list[bytes]] = []
    for members in gateways:
        events = []
        for minute in range(minutes):
            for sensor in members:
                send_at = minute
                if rng.random() < late_share:
                    send_at = min(minutes, minute + rng.randint(60, 24 * 60))
                events.append((send_at, sensor, minute))
        events.sort()
        sent: list[tuple[int, int]] = []
        bodies = []
        for start in range(0, len(events), new_per_batch):
            chunk = events[start : start + new_per_batch]
            items = [
                {"sensor": f"sensor-{s:05d}", "timestamp": stamp(m), "value": value_of(s, m)}
                for _, s, m in chunk
            ]
            for _ in range(batch - len(chunk) if sent else 0):
                s, m = rng.choice(sent)
                items.append(
                    {
                        "sensor": f"sensor-{s:05d}",
                        "timestamp": iso(first + timedelta(minutes=m), rng.choice(OFFSETS)),
                        # A re-sent copy carries the same value: with batches in
                        # flight at once, the copy may even land first.
                        "value": value_of(s, m),
                    }
                )
            rng.shuffle(items)
            sent.extend((s, m) for _, s, m in chunk)
            bodies.append(orjson.dumps(items))
        per_gateway.append(bodies)
    # Interleave gateways, as many gateways posting at once would.
    ordered = []
    for round_ in range(max(len(b) for b in per_gateway)):
        ordered.extend(b[round_] for b in per_gateway if round_ < len(b))
    return ordered


def expected_statistics(sensor: int, minutes: int, start: datetime = START) -> dict:
    values = [value_of(sensor, m) for m in range(minutes)]
    return {
        "count": minutes,
        "avg": sum(values) / minutes,
        "last": start + timedelta(minutes=minutes - 1),
    }


def post_all(url: str, bodies: list[bytes], connections: int, coding: str | None = None):
    parts = urlsplit(url)
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    latencies: list[float] = []
    totals = {"accepted": 0, "duplicates": 0, "errors": 0}

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                _, body = queue.pop()
            began = time.perf_counter()
            headers = {"Content-Type": "application/json"}
            if coding:
                headers["Content-Encoding"] = coding
            conn.request("POST", "/data", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)
                if response.status == 200:
                    result = orjson.loads(payload)
                    totals["accepted"] += result["accepted"]
                    totals["duplicates"] += result["duplicates"]
                else:
                    totals["errors"] += 1
        conn.close()

    queue.reverse()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, totals


def redis_info(client) -> tuple[int, float]:
    # An append-only-file rewrite holds a buffer in the parent while it runs.
    for _ in range(300):
        persistence = client.info("persistence")
        if not persistence["aof_rewrite_in_progress"] and not persistence["aof_rewrite_scheduled"]:
            break
        time.sleep(0.1)
    memory = client.info("memory")["used_memory"]
    cpu = client.info("cpu")
    return memory, cpu["used_cpu_sys"] + cpu["used_cpu_user"]


def check(url: str, sensors: int, minutes: int, sample: int, seed: int, start: datetime = START) -> list[str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
    problems = []
    for sensor in random.Random(seed + 1).sample(range(sensors), min(sample, sensors)):
        conn.request("GET", f"/statistics/sensor-{sensor:05d}")
        got = orjson.loads(conn.getresponse().read())
        want = expected_statistics(sensor, minutes, start)
        last = datetime.fromisoformat(got["last_measurement"]) if got["last_measurement"] else None
        if got["count"] != want["count"] or abs(got["avg"] - want["avg"]) > 1e-9 or last != want["last"]:
            problems.append(f"sensor-{sensor:05d}: got {got}, want {want}")
    conn.close()
    return problems


class SpawnedService:
    """What `make run` starts: gunicorn (2 workers) and an embedded Redis
    (same binary and configuration), on a fresh data directory; ``env``
    adds settings (bench/history_ingest.py: ROLLUPS, WORKER)."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = dict(env or {})

    def start(self) -> SpawnedService:
        from service.embedded_redis import EmbeddedRedis, free_port
        from service.settings import Settings
        from tests.servers import GunicornServer

        data_dir = Path(tempfile.mkdtemp(prefix="sensorhub-bench-"))
        self.log_path = data_dir / "gunicorn.log"
        self.redis = EmbeddedRedis(data_dir, appendfsync=Settings.from_env(self.env).redis_appendfsync)
        self.redis_url = self.redis.start()
        env = {"WORKER_PORT": str(free_port()), **self.env, "REDIS_URL": self.redis_url}
        self.web = GunicornServer(env, workers=2, log_path=self.log_path).start()
        self.url = self.web.url
        if env.get("WORKER", "1") != "0" and env["WORKER_PORT"] != "0":
            self._wait_for_worker(int(env["WORKER_PORT"]))
        return self

    def _wait_for_worker(self, port: int, timeout: float = 30.0) -> None:
        """Until the background worker (the master's child, counted in the
        web processes' CPU) answers /readyz: its start (imports, first
        passes) is about a second of CPU, which would otherwise land in the
        first measured run of a fresh server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 204:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the background worker did not become ready on port {port}")

    def stop(self) -> None:
        self.web.stop()
        self.redis.stop()
        failures = Counter(
            line.get("status") for line in _json_lines(self.log_path) if line.get("status", 200) >= 400
        )
        if failures:
            print(f"server answered errors: {dict(failures)} (log: {self.log_path})", file=sys.stderr)


def _json_lines(path: Path):
    for text in path.read_text(errors="replace").splitlines():
        if text.startswith("{"):
            try:
                yield json.loads(text)
            except ValueError:
                continue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--redis-url", default=None, help="for INFO memory/cpu (default: the spawned server's)")
    parser.add_argument("--spawn", action="store_true", help="start gunicorn (2 workers) with an embedded Redis")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=1200, help="minutes of readings per sensor")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--gateway-size", default=str(GATEWAY_SIZE),
                        help="sensors behind one gateway; several, comma-separated, measure each shape in turn "
                             "(50,400: many readings per sensor, then many sensors per batch)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--when", choices=("live", "backlog"), default="live", help=(
        "live: the readings end at the minute the bench starts (those of the last hour wait for the worker's "
        "hourly seal, older ones merge into their history buckets as they land); backlog: from START, a month "
        "back, an import (every new reading merges into its history buckets at once)"))
    parser.add_argument("--dup-share", type=float, default=0.10)
    parser.add_argument("--late-share", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3, help="runs on a fresh database; the median is reported")
    parser.add_argument("--sample", type=int, default=100, help="sensors whose statistics are checked")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gzip", action="store_true", help="also post the bodies gzipped, alternating with plain")
    parser.add_argument("--epoch", action="store_true", help="also post epoch-second timestamps, alternating with ISO")
    parser.add_argument("--redis-metrics", action="store_true",
                        help="also run servers with REDIS_COMMAND_METRICS=0, alternating (needs --spawn)")
    parser.add_argument("--compare", default=None, metavar="NAME=VALUE",
                        help="also run servers with this setting, alternating (needs --spawn)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.redis_metrics and not args.spawn:
        parser.error("--redis-metrics needs --spawn")
    if args.compare and (not args.spawn or "=" not in args.compare):
        parser.error("--compare needs NAME=VALUE and --spawn")

    sizes = [int(size) for size in args.gateway_size.split(",")]
    summaries = {}
    for size in sizes:
        args.gateway_size = size
        summaries[f"gateway{size}"] = measure(args)
    summary = summaries[f"gateway{sizes[0]}"] if len(sizes) == 1 else summaries
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if all(s["all_exact"] for s in summaries.values()) else 1


def _pair_ratio(runs: list[dict], variant: str, against: str) -> float:
    """Median of each run's ``variant`` readings/s over the ``against`` run
    started next to it: steadier than the ratio of medians on a busy machine."""
    return round(statistics.median(
        one["readings_per_s"] / other["readings_per_s"]
        for one, other in zip([r for r in runs if r["variant"] == variant],
                              [r for r in runs if r["variant"] == against], strict=True)), 3)


def measure(args) -> dict:
    """One shape (``args.gateway_size``): the runs and their summary."""
    print(f"generating {args.sensors} sensors x {args.minutes} minutes ...", file=sys.stderr)
    start = START
    if args.when == "live":
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=args.minutes - 1)
    bodies = generate(args.sensors, args.minutes, args.batch, args.dup_share, args.late_share, args.seed,
                      args.gateway_size, start)
    posted = sum(body.count(b'"sensor"') for body in bodies)
    distinct = args.sensors * args.minutes
    print(f"{len(bodies)} batches, {posted} readings ({distinct} distinct)", file=sys.stderr)

    variants = [("plain", None, bodies, {})]
    if args.redis_metrics:
        variants.append(("untimed", None, bodies, {"REDIS_COMMAND_METRICS": "0"}))
    if args.compare:
        name, _, value = args.compare.partition("=")
        variants.append(("compared", None, bodies, {name: value}))
    if args.gzip:
        began = time.perf_counter()
        gzipped = [gzip.compress(body, 6) for body in bodies]
        compress_us = (time.perf_counter() - began) * 1e6 / posted
        began = time.perf_counter()
        for body in gzipped:
            gzip.decompress(body)
        decompress_us = (time.perf_counter() - began) * 1e6 / posted
        variants.append(("gzip", "gzip", gzipped, {}))
        print(f"gzip: {sum(map(len, bodies)) / sum(map(len, gzipped)):.1f}x smaller, "
              f"{compress_us:.2f} us/reading to compress (client side)", file=sys.stderr)
    if args.epoch:
        variants.append(("epoch", None, generate(args.sensors, args.minutes, args.batch, args.dup_share,
                                                  args.late_share, args.seed, args.gateway_size, start, epoch=True),
                         {}))
    server = None
    url, redis_url = args.url, args.redis_url
    runs = []
    try:
        for run, (variant, coding, sent, env) in ((r, v) for r in range(args.runs) for v in variants):
            if args.spawn:
                server = SpawnedService(env).start()
                url, redis_url = server.url, server.redis_url
            client = redis.Redis.from_url(redis_url) if redis_url else None
            if client is not None and not args.spawn:
                client.flushall()
            memory_before, cpu_before = redis_info(client) if client else (0, 0.0)
            elapsed, latencies, totals = post_all(url, sent, args.connections, coding)
            memory_after, cpu_after = redis_info(client) if client else (0, 0.0)
            problems = check(url, args.sensors, args.minutes, args.sample, args.seed, start)
            latencies.sort()
            result = {
                "variant": variant,
                "seconds": round(elapsed, 2),
                "readings_per_s": round(posted / elapsed),
                "batches_per_s": round(len(bodies) / elapsed, 1),
                "batch_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
                "batch_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
                "accepted": totals["accepted"],
                "duplicates": totals["duplicates"],
                "errors": totals["errors"],
                "exact": not problems and totals["accepted"] == distinct,
                "redis_bytes_per_reading": round((memory_after - memory_before) / distinct, 1) if client else None,
                "redis_cpu_us_per_reading": round((cpu_after - cpu_before) * 1e6 / posted, 2) if client else None,
            }
            runs.append(result)
            print(json.dumps({"run": run + 1, **result}), file=sys.stderr)
            for problem in problems[:5]:
                print("MISMATCH", problem, file=sys.stderr)
            client.close() if client else None
            if server is not None:
                server.stop()
                server = None
    finally:
        if server is not None:
            server.stop()

    def median_of(variant: str) -> dict:
        chosen = [r for r in runs if r["variant"] == variant]
        return {key: statistics.median(r[key] for r in chosen) for key in ("readings_per_s", "batch_p50_ms", "batch_p99_ms")}

    median = median_of("plain")
    summary = {
        "load": {k: getattr(args, k) for k in ("when", "sensors", "minutes", "batch", "connections", "dup_share",
                                               "late_share")},
        "posted_readings": posted,
        "median": median,
    }
    if args.gzip:
        zipped = median_of("gzip")
        summary["gzip"] = {
            "median": zipped,
            "readings_per_s_ratio": round(zipped["readings_per_s"] / median["readings_per_s"], 3),
            # Wall time per reading added by gzip (2 workers: about half the CPU it costs them).
            "added_us_per_reading": round(1e6 / zipped["readings_per_s"] - 1e6 / median["readings_per_s"], 2),
            "size_ratio": round(sum(map(len, bodies)) / sum(map(len, gzipped)), 1),
            "client_compress_us_per_reading": round(compress_us, 2),
            # What inflating costs the server, measured alone in this process.
            "decompress_us_per_reading": round(decompress_us, 3),
        }
    if args.epoch:
        epoch = median_of("epoch")
        summary["epoch"] = {
            "median": epoch,
            "readings_per_s_ratio": round(epoch["readings_per_s"] / median["readings_per_s"], 3),
        }
    if args.compare:
        compared = median_of("compared")
        summary["compared"] = {
            "setting": args.compare,
            "median": compared,
            "readings_per_s_ratio": round(compared["readings_per_s"] / median["readings_per_s"], 3),
            "median_pair_ratio": _pair_ratio(runs, "compared", "plain"),
            "batch_p50_ms_ratio": round(compared["batch_p50_ms"] / median["batch_p50_ms"], 3),
        }
    if args.redis_metrics:
        untimed = median_of("untimed")
        summary["redis_metrics"] = {
            "untimed_median": untimed,
            # Below 1: timing every Redis round trip costs throughput.
            "readings_per_s_ratio": round(median["readings_per_s"] / untimed["readings_per_s"], 3),
            "median_pair_ratio": _pair_ratio(runs, "plain", "untimed"),
            "batch_p50_ms_ratio": round(median["batch_p50_ms"] / untimed["batch_p50_ms"], 3),
        }
    summary.update({
        "all_exact": all(r["exact"] for r in runs),
        "runs": runs,
    })
    summary["load"]["gateway_size"] = args.gateway_size
    return summary


if __name__ == "__main__":
    sys.exit(main())
