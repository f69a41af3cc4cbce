"""Too-hot answer benchmark: GET /v1/admin/toohotornot vs a constant route.

Loads 1,000 sites (an hour of readings each, through the fleet simulator),
then measures with wrk (Debian package `wrk`):
1. one client (1 connection): p99 of the answer and of GET /livez;
2. 16 connections while the simulator ingests 1,000 sites at full speed
   (restarted back to back in the background): the answer and GET /livez
   alternately, ``--runs`` times each; median req/s and p99 of both and
   their ratios.

    python bench/toohot.py --spawn
    python bench/toohot.py --url http://127.0.0.1:8080
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.read import wrk, wrk_benchmark  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANSWER_PATHS = "/v1/admin/toohotornot?siteId=bench-site%05d"


def simulate(url: str, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "service.simulate", "--url", url, "--sites", "1000", "--no-progress", *extra]
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)


class BackgroundIngest:
    """The simulator at full speed, restarted until stopped; counts readings sent."""

    def __init__(self, url: str):
        self.url, self.stopping, self.rounds = url, threading.Event(), []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stopping.is_set():
            done = simulate(self.url, "--minutes", "10", "--no-check", "--quiet", "--concurrency", "2")
            self.rounds.append(done.stdout.strip().splitlines()[-1])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()


def main() -> int:
    args, server, url = wrk_benchmark(__doc__, seconds=5)
    try:
        loaded = simulate(url, "--minutes", "60", "--prefix", "bench", "--seed", "1", "--quiet")
        print(loaded.stdout.strip().splitlines()[-1], file=sys.stderr)
        single = {
            "answer": wrk(url, 1, args.seconds, ANSWER_PATHS),
            "constant": wrk(f"{url}/livez", 1, args.seconds),
        }
        print(json.dumps({"one_client": single}), file=sys.stderr)
        runs = []
        with BackgroundIngest(url) as ingest:
            for run in range(args.runs):
                result = {
                    "answer": wrk(url, args.connections, args.seconds, ANSWER_PATHS),
                    "constant": wrk(f"{url}/livez", args.connections, args.seconds),
                }
                runs.append(result)
                print(json.dumps({"run": run + 1, **result}), file=sys.stderr)
        print(f"background ingest: {len(ingest.rounds)} rounds; last: {ingest.rounds[-1] if ingest.rounds else '-'}",
              file=sys.stderr)
    finally:
        if server:
            server.stop()
    median = {
        route: {key: statistics.median(r[route][key] for r in runs) for key in ("req_per_s", "p99_ms")}
        for route in ("answer", "constant")
    }
    summary = {
        "one_client": single,
        "connections": args.connections,
        "under_ingest_median": median,
        "req_ratio": round(median["answer"]["req_per_s"] / median["constant"]["req_per_s"], 2),
        "p99_ratio": round(median["answer"]["p99_ms"] / median["constant"]["p99_ms"], 2),
        "background_ingest_rounds": ingest.rounds,
        "runs": runs,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
