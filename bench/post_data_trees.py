"""POST /data's cost in process, one code tree against another, in one run.

Each tree's application runs in a process of its own (its ``service``
package first on the path) on one Redis; the two post the same bodies
(bench/ingest.py's gateway load, generated once) through the Flask test
client in turn, pass after pass, the Redis emptied before each pass: the
application as gunicorn runs it (body gate, auth hook, metrics, the route,
the store), without the server and its worker model. Each pass gives the
process' CPU per reading (the Python side, where a change to the route
shows) and readings per second of wall time (Redis included). Passes
alternate (the first tree first in odd rounds, last in even ones), so load
from other work on the machine falls on both alike; the summary gives
each tree's median and best pass and the median of the rounds' ratios.

    git archive main | tar -x -C /tmp/main-tree
    python bench/post_data_trees.py main=/tmp/main-tree here=.
    python bench/post_data_trees.py main=/tmp/main-tree here=. --rounds 40 --gateway-size 50
    python bench/post_data_trees.py main=/tmp/main-tree here=. --instructions 4 --rounds 2 --minutes 10

Time on a shared machine moves by more than a small change costs (an A/A
run, one tree against itself, shows how much); ``--instructions N`` counts
the instructions each tree executes under valgrind's callgrind instead,
which other work does not change: per reading, over N passes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import generate  # noqa: E402

# Runs in each tree's own process (its ``service`` package first on the
# path): one pass over the bodies each time the parent writes a line.
_CHILD = r"""
import os, sys, time, orjson, redis
# Results on the original stdout alone; anything else printed goes to stderr.
results = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
tree, redis_url, bodies_path, warmup = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, tree)
from service import create_app
from service.settings import Settings

app = create_app(Settings(redis_url=redis_url, log_requests=False, log_level="WARNING"))
client = app.test_client()
flush = redis.Redis.from_url(redis_url).flushall
bodies = [body.encode() for body in orjson.loads(open(bodies_path, "rb").read())]
readings = sum(body.count(b'"sensor"') for body in bodies)
for body in bodies[:warmup]:
    assert client.post("/data", data=body, content_type="application/json").status_code == 200
print("ready", file=results, flush=True)
for _ in sys.stdin:
    flush()
    accepted = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for body in bodies:
        answer = client.post("/data", data=body, content_type="application/json")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        accepted += answer.get_json()["accepted"]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(orjson.dumps({"cpu_us_per_reading": round(cpu * 1e6 / readings, 3),
                        "readings_per_s": round(readings / wall), "accepted": accepted}).decode(),
          file=results, flush=True)
"""


class TreeProcess:
    """One tree's application in a process of its own, posting the bodies
    once per ``measure()``."""

    def __init__(self, tree: Path, redis_url: str, bodies_path: Path, warmup: int, wrapper: tuple = ()):
        self.tree = tree
        self.process = subprocess.Popen(
            [*wrapper, sys.executable, "-c", _CHILD, str(tree), redis_url, str(bodies_path), str(warmup)],
            cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            # The same hashes in every run: dict and set layouts, hence instructions, repeat.
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        self._read()

    def _read(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.tree}: the measuring process ended (exit {self.process.wait()})")
        return line

    def measure(self) -> dict:
        self.process.stdin.write("pass\n")
        self.process.stdin.flush()
        return json.loads(self._read())

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(600)


def instructions(tree: Path, redis_url: str, bodies_path: Path, warmup: int, passes: int) -> int:
    """Instructions the tree's process executes (callgrind) to start, warm
    up and post the bodies ``passes`` times."""
    with tempfile.TemporaryDirectory(prefix="sensorhub-callgrind-") as scratch:
        out = Path(scratch) / "callgrind.out"
        process = TreeProcess(tree, redis_url, bodies_path, warmup,
                              ("valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}"))
        for _ in range(passes):
            process.measure()
        process.stop()
        return int(re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M).group(1))


def timed(trees: list, redis_url: str, bodies_path: Path, args) -> dict:
    """Each tree's passes, alternating: CPU per reading, readings/s."""
    results: dict[str, list[dict]] = {name: [] for name, _ in trees}
    processes = {}
    try:
        for name, tree in trees:
            processes[name] = TreeProcess(tree, redis_url, bodies_path, args.warmup)
        for number in range(args.rounds):
            order = trees if number % 2 == 0 else trees[::-1]
            for name, _ in order:
                results[name].append(processes[name].measure())
            print(json.dumps({"round": number + 1, **{name: results[name][-1] for name, _ in trees}}),
                  file=sys.stderr)
    finally:
        for process in processes.values():
            process.stop()
    (reference, _), (other, _) = trees
    summary = {}
    for measure in ("cpu_us_per_reading", "readings_per_s"):
        summary[measure] = {name: round(statistics.median(r[measure] for r in results[name]), 3) for name, _ in trees}
        # The least disturbed pass of each: other work on the machine only adds.
        best = min if measure == "cpu_us_per_reading" else max
        summary[measure].update({f"{name} best": best(r[measure] for r in results[name]) for name, _ in trees})
        summary[measure][f"{other}/{reference} median of round ratios"] = round(statistics.median(
            b[measure] / a[measure] for a, b in zip(results[reference], results[other], strict=True)), 4)
    return summary


def counted(trees: list, redis_url: str, bodies_path: Path, readings: int, args) -> dict:
    """Instructions per reading of each tree: a run of 1 + N passes less a
    run of 1, over N passes (start-up and warm-up cancel out). Unlike time,
    other work on the machine does not change them."""
    per_reading: dict[str, list[float]] = {name: [] for name, _ in trees}
    for number in range(args.rounds):
        for name, tree in trees if number % 2 == 0 else trees[::-1]:
            one = instructions(tree, redis_url, bodies_path, args.warmup, 1)
            more = instructions(tree, redis_url, bodies_path, args.warmup, 1 + args.instructions)
            per_reading[name].append(round((more - one) / args.instructions / readings))
            print(json.dumps({"round": number + 1, "tree": name, "instructions_per_reading": per_reading[name][-1]}),
                  file=sys.stderr)
    (reference, _), (other, _) = trees
    summary = {name: statistics.median(values) for name, values in per_reading.items()}
    summary["rounds"] = per_reading
    summary[f"{other}/{reference}"] = round(summary[other] / summary[reference], 4)
    return {"instructions_per_reading": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs=2, metavar="NAME=PATH", help="two code trees, the first the reference")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--gateway-size", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=20, help="bodies posted (then flushed) before timing")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--instructions", type=int, default=0, metavar="N", help=(
        "count instructions under valgrind's callgrind instead of timing, over N passes (slow: use few "
        "--rounds and small --minutes)"))
    args = parser.parse_args()
    trees = [(name, Path(path).resolve()) for name, _, path in (tree.partition("=") for tree in args.trees)]

    from service.embedded_redis import EmbeddedRedis

    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=args.minutes - 1)
    bodies = generate(args.sensors, args.minutes, args.batch, 0.10, 0.05, args.seed, args.gateway_size, start)
    readings = sum(body.count(b'"sensor"') for body in bodies)
    summary = {"bodies": len(bodies), "readings": readings, "gateway_size": args.gateway_size, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="sensorhub-trees-") as scratch:
        bodies_path = Path(scratch) / "bodies.json"
        bodies_path.write_bytes(orjson.dumps([body.decode() for body in bodies]))
        server = EmbeddedRedis(Path(scratch) / "redis", unix_socket=False, appendonly=False)
        redis_url = server.start()
        try:
            if args.instructions:
                summary.update(counted(trees, redis_url, bodies_path, readings, args))
            else:
                summary.update(timed(trees, redis_url, bodies_path, args))
        finally:
            server.stop()
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
