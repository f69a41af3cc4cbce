"""Ingest benchmark: POST /data with history tiers (ROLLUPS) against without.

bench/ingest.py's load and server (`make run`'s gunicorn with 2 workers and
an embedded Redis, fresh data directory per run, WORKER=0), run alternately
with ROLLUPS=<--rollups> (A) and ROLLUPS="" (B): A B A B ... on the same
generated bodies, for each shape:

  gateway400  many sensors per batch: 1.25 readings of each of 400 sensors
              (--gateway-size 400, batches of 500)
  gateway50   many readings per sensor: 10 of each of 50 sensors
              (bench/ingest.py's default shape)

--when live (default) dates the readings in the previous and the current
hour, as gateways send them: they wait in their bucket hash for the
worker's seal (not run here: WORKER=0; bench/history_seal.py measures it).
--when backlog dates them a month back: every new reading merges into its
hourly and daily bucket in the call that accepts it (a catch-up import).

Each run reports readings/s and Redis CPU per posted reading (INFO cpu of
the embedded Redis, used_cpu_sys + used_cpu_user), checks sampled
statistics, and checks that A wrote hourly buckets and B none. The summary
gives medians, the ratios of the medians A/B and the median of each A run's
ratio to the B run right after it.

    python bench/history_ingest.py                       # 1,000 sensors x 120 min, 5 rounds
    python bench/history_ingest.py --rounds 3 --minutes 240 --shapes gateway400
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import START, SpawnedService, check, generate, post_all, redis_info  # noqa: E402
from service import keys  # noqa: E402
from service.history.store import HistoryStore  # noqa: E402
from service.redisdb.scripts import Scripts  # noqa: E402
from service.settings import Settings  # noqa: E402

SHAPES = {"gateway400": 400, "gateway50": 50}


def hourly_keys(client) -> int:
    match = f"sensor:{{*}}{keys.ROLLUP_SUFFIX}3600{keys.SEPARATOR}*"
    return sum(1 for _ in client.scan_iter(match=match, count=1000))


def pair_ratios(runs: dict, key: str) -> dict:
    ratios = [round(a[key] / b[key], 3) for a, b in zip(runs["A"], runs["B"], strict=True)]
    return {"median": statistics.median(ratios), "each": ratios}


def seal(client, redis_url: str, rollups: str) -> float:
    """Roll up every waiting bucket hash as the worker would once their
    hour is over (its seal pass, run here with a clock three hours ahead);
    returns the Redis CPU seconds it took."""
    settings = Settings.from_env({"REDIS_URL": redis_url, "ROLLUPS": rollups})
    history = HistoryStore(client, Scripts(client), settings)
    _, before = redis_info(client)
    history.seal_step(now=time.time() + 3 * 3600)
    _, after = redis_info(client)
    return after - before


def run_once(bodies: list[bytes], posted: int, rollups: str, args) -> dict:
    server = SpawnedService({"ROLLUPS": rollups, "WORKER": "0"}).start()
    try:
        client = redis.Redis.from_url(server.redis_url)
        memory_before, cpu_before = redis_info(client)
        elapsed, _, totals = post_all(server.url, bodies, args.connections)
        memory_after, cpu_after = redis_info(client)
        problems = check(server.url, args.sensors, args.minutes, args.sample, args.seed, args.start)
        seal_cpu = seal(client, server.redis_url, rollups) if rollups else 0.0
        tier_keys = hourly_keys(client)
        client.close()
    finally:
        server.stop()
    distinct = args.sensors * args.minutes
    return {
        "readings_per_s": round(posted / elapsed),
        "redis_cpu_us_per_reading": round((cpu_after - cpu_before) * 1e6 / posted, 2),
        "redis_bytes_per_reading": round((memory_after - memory_before) / distinct, 1),
        "seal_redis_cpu_us_per_reading": round(seal_cpu * 1e6 / posted, 2),
        "hourly_keys": tier_keys,
        "errors": totals["errors"],
        "exact": not problems and totals["accepted"] == distinct and (tier_keys > 0) == bool(rollups),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollups", default="1h:400d,1d:3650d", help="ROLLUPS of the A runs (B: none)")
    parser.add_argument("--shapes", default="gateway400,gateway50")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=120, help="minutes of readings per sensor")
    parser.add_argument("--when", choices=("live", "backlog"), default="live", help=(
        "live: readings of the previous and the current hour, as gateways send them (they wait for the "
        "worker's seal; at most 120 minutes); backlog: a month old (bench/ingest.py's START): every new "
        "reading merges into its hourly and daily bucket in the call that accepts it"))
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="A B pairs per shape; medians reported")
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.when == "live":
        if args.minutes > 120:
            parser.error("--when live covers the previous and the current hour: --minutes 120 at most")
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        args.start = hour - timedelta(hours=1)
    else:
        args.start = START

    shapes = args.shapes.split(",")
    loads = {}
    for shape in shapes:
        bodies = generate(args.sensors, args.minutes, args.batch, 0.10, 0.05, args.seed, SHAPES[shape], args.start)
        loads[shape] = (bodies, sum(body.count(b'"sensor"') for body in bodies))
        print(f"{shape}: {len(bodies)} batches, {loads[shape][1]} readings", file=sys.stderr)
    configs = {"A": args.rollups, "B": ""}
    runs = {shape: {name: [] for name in configs} for shape in shapes}
    for round_ in range(args.rounds):
        for shape in shapes:
            for name, rollups in configs.items():
                result = run_once(*loads[shape], rollups, args)
                runs[shape][name].append(result)
                print(json.dumps({"round": round_ + 1, "shape": shape, "config": name, **result}), file=sys.stderr)

    summary = {"load": {k: getattr(args, k) for k in ("sensors", "minutes", "batch", "connections", "rounds", "when")},
               "A": args.rollups, "B": "", "shapes": {}}
    for shape in shapes:
        medians = {
            name: {key: statistics.median(r[key] for r in results)
                   for key in ("readings_per_s", "redis_cpu_us_per_reading", "redis_bytes_per_reading",
                               "seal_redis_cpu_us_per_reading")}
            for name, results in runs[shape].items()
        }
        summary["shapes"][shape] = {
            "median": medians,
            "readings_per_s_ratio_A_to_B": round(medians["A"]["readings_per_s"] / medians["B"]["readings_per_s"], 3),
            "redis_cpu_ratio_A_to_B": round(
                medians["A"]["redis_cpu_us_per_reading"] / medians["B"]["redis_cpu_us_per_reading"], 3),
            # Each A run against the B run right after it: steadier than the
            # ratio of medians when the machine's load drifts.
            "pair_ratios_readings_per_s": pair_ratios(runs[shape], "readings_per_s"),
            "pair_ratios_redis_cpu": pair_ratios(runs[shape], "redis_cpu_us_per_reading"),
            "all_exact": all(r["exact"] for results in runs[shape].values() for r in results),
            "runs": runs[shape],
        }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if all(s["all_exact"] for s in summary["shapes"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
