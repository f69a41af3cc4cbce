"""Cost of epoch timestamps in the batch checker of POST /data, in process.

Times ``parse_batch`` (validation and grouping, the Python part of the
ingest path that timestamps touch) over the batches of ``bench/ingest.py``'s
load, in one process, rounds interleaved:

- ``before, ISO``: the checker of the commit before epoch timestamps
  (``--before``, default the merge base with main), loaded from git;
- ``now, ISO``: this tree's checker on the same ISO 8601 bodies;
- ``now, epoch s`` / ``epoch ms``: the same readings with integer epoch
  seconds / milliseconds (``?precision=ms``) instead of text;
- ``now, ISO, unique fractions`` / ``now, epoch s, unique fractions``: a
  different microsecond fraction on every reading, as text / as fractional
  seconds (no per-batch cache hits: the worst case of either form).

Batches are timed one by one, every variant in turn. Each figure is µs
per reading, the median and the best of the rounds; ratios are to
``before, ISO`` measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/epoch_validation.py
    PYTHONPATH=. .venv/bin/python bench/epoch_validation.py --gateway-size 400 --rounds 15
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import service.readings  # noqa: E402,F401  (the package the loaded module's relative imports need)
from bench.ingest import generate  # noqa: E402
from service.readings.validation import parse_batch  # noqa: E402

BUCKET_US = 3600 * 1_000_000


def checker_at(rev: str):
    """``parse_batch`` of service/readings/validation.py at ``rev``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:service/readings/validation.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("service.readings._validation_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "service.readings"
    exec(compile(source, f"{rev}:service/readings/validation.py", "exec"), module.__dict__)
    return module.parse_batch


def with_unique_fractions(batches: list[list[dict]]) -> list[list[dict]]:
    """The batches with a different microsecond fraction on every ISO timestamp."""
    converted = []
    for position, batch in enumerate(batches):
        items = []
        for index, item in enumerate(batch):
            stamp = item["timestamp"]
            at = stamp.index("+") if "+" in stamp else (stamp.rindex("-") if stamp.count("-") > 2 else len(stamp) - 1)
            fraction = (position * 7919 + index) % 1_000_000
            items.append({**item, "timestamp": f"{stamp[:at]}.{fraction:06d}{stamp[at:]}"})
        converted.append(items)
    return converted


def with_epoch(batches: list[list[dict]], per_second: int, fraction: bool = False) -> list[list[dict]]:
    """The batches with each timestamp as a number since the epoch."""
    converted = []
    for position, batch in enumerate(batches):
        items = []
        for index, item in enumerate(batch):
            seconds = int(datetime.fromisoformat(item["timestamp"]).timestamp())
            stamp = seconds * per_second
            if fraction:
                stamp = seconds + ((position * 7919 + index) % 1_000_000) / 1_000_000
            items.append({**item, "timestamp": stamp})
        converted.append(items)
    return converted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=None, help="git revision of the checker to compare with (default: merge base with main)")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--gateway-size", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    before = args.before or subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    bodies = generate(args.sensors, args.minutes, args.batch, 0.10, 0.05, 7, args.gateway_size)
    iso = [orjson.loads(body) for body in bodies]
    readings = sum(map(len, iso))
    variants = {
        "before, ISO": (checker_at(before), iso, "s"),
        "now, ISO": (parse_batch, iso, "s"),
        "now, epoch s": (parse_batch, with_epoch(iso, 1), "s"),
        "now, epoch ms": (parse_batch, with_epoch(iso, 1000), "ms"),
        "now, ISO, unique fractions": (parse_batch, with_unique_fractions(iso), "s"),
        "now, epoch s, unique fractions": (parse_batch, with_epoch(iso, 1, fraction=True), "s"),
    }
    # Batch by batch, every variant in turn, so that load from elsewhere on
    # the machine falls on all of them alike.
    timings: dict[str, list[float]] = {name: [] for name in variants}
    clock = time.perf_counter
    for _ in range(args.rounds):
        spent = dict.fromkeys(variants, 0.0)
        for position in range(len(iso)):
            for name, (check, batches, precision) in variants.items():
                kwargs = {} if name.startswith("before") else {"precision": precision}
                began = clock()
                check(batches[position], max_batch=10_000, bucket_us=BUCKET_US, **kwargs)
                spent[name] += clock() - began
        for name, seconds in spent.items():
            timings[name].append(seconds * 1e6 / readings)
    base = statistics.median(timings["before, ISO"])
    base_best = min(timings["before, ISO"])
    summary = {
        "before": before,
        "load": {k: getattr(args, k) for k in ("sensors", "minutes", "batch", "gateway_size", "rounds")},
        "readings": readings,
        "us_per_reading": {
            name: {
                "median": round(statistics.median(values), 3),
                "median_vs_before_iso": round(statistics.median(values) / base, 3),
                "best": round(min(values), 3),
                "best_vs_before_iso": round(min(values) / base_best, 3),
            }
            for name, values in timings.items()
        },
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
