"""Too-hot answer benchmark: GET /v1/admin/toohotornot vs a constant route.

Loads 1,000 sites (an hour of readings each, through the fleet simulator;
its rate is POST /v1/temperatures alone, first sight of every site
included), then measures with wrk (Debian package `wrk`):
1. one client (1 connection): p99 of the answer and of GET /livez;
2. 16 connections, no ingest: the answer and GET /livez alternately,
   ``--runs`` times each; their req/s ratio;
3. 16 connections while the simulator ingests 1,000 sites at full speed
   (one long run in the background, for the whole measurement, on the
   loaded sites, so none is registered meanwhile): the same, with median
   req/s and p99 of both, their ratios, and the readings per second the
   service received during each measurement;
4. mixed: 16 connections on each route at once, without and with ingest:
   how the answer fares beside requests that never wait on Redis.

With ``--spawn`` the one-client and no-ingest measurements also report
what a request cost in CPU: microseconds of the gunicorn workers and of
redis-server per request (from /proc), and for the answer how many script
calls Redis served per read event (INFO: how many answers shared a round
trip).

With ``--separate-ingest`` (and ``--spawn``) the simulator posts to a second
instance of the service (one worker, same Redis), as when gateways and
admins reach different instances: the routes measured then share the
machine with the ingest but not their event loop.

    python bench/toohot.py --spawn
    python bench/toohot.py --spawn --separate-ingest
    python bench/toohot.py --url http://127.0.0.1:8080 [--ingest-url http://127.0.0.1:8081]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.read import medians, report, wrk, wrk_benchmark  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANSWER_PATHS = "/v1/admin/toohotornot?siteId=bench-site%05d"


def simulate(url: str, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "service.simulate", "--url", url, "--sites", "1000", "--no-progress", *extra]
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)


def readings_received(url: str) -> float:
    """Readings the service has received so far (accepted and duplicate), from /metrics."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r'^sensorhub_readings_total\{outcome="(?:accepted|duplicate)"\} (\S+)$', text, re.M))


def wrk_with_ingest_rate(url: str, target: str, connections: int, seconds: int, paths: str | None = None) -> dict:
    """wrk against ``target``, plus the readings per second the service
    received meanwhile from the background ingest."""
    before, started = readings_received(url), time.monotonic()
    result = wrk(target, connections, seconds, paths)
    result["ingest_per_s"] = round((readings_received(url) - before) / (time.monotonic() - started))
    return result


class CpuMeter:
    """CPU time of a spawned service's processes (its gunicorn workers, its
    redis-server) and Redis' read events and script calls, around a
    measurement: what one request costs each."""

    def __init__(self, server):
        self.master, self.redis_pid = server.web.process.pid, server.redis.process.pid
        self.client = redis.Redis.from_url(server.redis_url)
        self.ticks = os.sysconf("SC_CLK_TCK")

    def _cpu_seconds(self, pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime

    def _workers(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.master)], capture_output=True, text=True).stdout.split()
        # Not the background worker (python -m service.worker), also a child.
        return [int(pid) for pid in children if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def _sample(self, workers: list[int]) -> dict:
        stats, commands = self.client.info("stats"), self.client.info("commandstats")
        return {
            "workers": sum(self._cpu_seconds(pid) for pid in workers),
            "redis": self._cpu_seconds(self.redis_pid),
            "reads": stats["total_reads_processed"],
            "scripts": commands.get("cmdstat_evalsha", {}).get("calls", 0),
        }

    def measure(self, run, scripts: bool) -> dict:
        """``run()`` (a wrk result), with ``cpu_us_per_request`` of the
        workers and of Redis, and with ``scripts`` (for a route calling a
        script per request) ``scripts_per_read``."""
        workers = self._workers()
        before = self._sample(workers)
        result = run()
        after = self._sample(workers)
        done = max(result["requests"], 1)
        result["cpu_us_per_request"] = {
            part: round((after[part] - before[part]) / done * 1e6) for part in ("workers", "redis")}
        if scripts:
            # Less the INFO calls' own read events.
            reads = max(after["reads"] - before["reads"] - 2, 1)
            result["scripts_per_read"] = round((after["scripts"] - before["scripts"]) / reads, 2)
        return result


def measured(meter: CpuMeter | None, run, scripts: bool = False) -> dict:
    return meter.measure(run, scripts) if meter else run()


def _cost_medians(runs: list[dict]) -> dict:
    """Median CPU per request of each route's runs, and answers per Redis read."""
    medians = {route: {part: statistics.median(r[route]["cpu_us_per_request"][part] for r in runs)
                       for part in ("workers", "redis")} for route in ("answer", "constant")}
    medians["answer_scripts_per_read"] = statistics.median(r["answer"]["scripts_per_read"] for r in runs)
    return medians


def wrk_mixed(url: str, connections: int, seconds: int) -> dict:
    """wrk against the answer and against /livez at the same time."""
    with ThreadPoolExecutor(2) as pool:
        answer = pool.submit(wrk, url, connections, seconds, ANSWER_PATHS)
        constant = pool.submit(wrk, f"{url}/livez", connections, seconds)
        return {"answer": answer.result(), "constant": constant.result()}


class BackgroundIngest:
    """The simulator sending at full speed for the whole measurement: one long
    run (4 simulated hours of the loaded 1,000 sites), restarted if it ends;
    starts measuring only once readings flow."""

    def __init__(self, url: str):
        self.url, self.stopping, self.rounds = url, threading.Event(), []
        self.process: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stopping.is_set():
            # The loaded fleet (same prefix and seed): first-sight
            # registrations would otherwise slow the first measurement's ingest.
            command = [sys.executable, "-m", "service.simulate", "--url", self.url, "--sites", "1000", "--no-progress",
                       "--minutes", "240", "--no-check", "--quiet", "--concurrency", "2", "--prefix", "bench",
                       "--seed", "1"]
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            output, _ = self.process.communicate()
            if output.strip():
                self.rounds.append(output.strip().splitlines()[-1])

    def __enter__(self):
        before = readings_received(self.url)
        self.thread.start()
        while readings_received(self.url) == before:
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        while self.thread.is_alive():
            if self.process is not None:
                self.process.terminate()
            self.thread.join(1)


def _options(parser) -> None:
    parser.add_argument("--ingest-url", default=None, help="where the simulator posts (default: the measured service)")
    parser.add_argument("--separate-ingest", action="store_true",
                        help="with --spawn: a second instance (1 worker, same Redis) takes the ingest")


def main() -> int:
    args, server, url = wrk_benchmark(__doc__, seconds=5, add_options=_options)
    ingest_server = None
    ingest_url = args.ingest_url or url
    try:
        if args.separate_ingest and server:
            from tests.servers import GunicornServer

            ingest_server = GunicornServer({"REDIS_URL": server.redis_url, "WORKER": "0"}, workers=1,
                                           log_path=server.log_path.with_name("ingest.log")).start()
            ingest_url = ingest_server.url
        loaded = simulate(url, "--minutes", "60", "--prefix", "bench", "--seed", "1", "--quiet")
        print(loaded.stdout.strip(), file=sys.stderr)
        # POST /v1/temperatures alone: the simulator's rate while loading
        # (1,000 sites seen for the first time, 4 threads, batches of 200).
        load_rate = re.search(r"\((\d+)/s\)", loaded.stdout)
        load = {"readings_per_s": int(load_rate.group(1)) if load_rate else None,
                "checked": loaded.stdout.strip().splitlines()[-1]}
        meter = CpuMeter(server) if server else None
        single = {
            "answer": measured(meter, lambda: wrk(url, 1, args.seconds, ANSWER_PATHS), scripts=True),
            "constant": measured(meter, lambda: wrk(f"{url}/livez", 1, args.seconds)),
        }
        print(json.dumps({"one_client": single}), file=sys.stderr)
        # The same comparison without ingest, to tell the answer's own cost
        # from the share of the CPU the ingest takes during each measurement.
        quiet = []
        for _ in range(args.runs):
            quiet.append({
                "answer": measured(meter, lambda: wrk(url, args.connections, args.seconds, ANSWER_PATHS), scripts=True),
                "constant": measured(meter, lambda: wrk(f"{url}/livez", args.connections, args.seconds)),
            })
            print(json.dumps({"without_ingest": quiet[-1]}), file=sys.stderr)
        mixed = {"without_ingest": wrk_mixed(url, args.connections, args.seconds)}
        print(json.dumps({"mixed": mixed}), file=sys.stderr)
        runs = []
        with BackgroundIngest(ingest_url) as ingest:
            for run in range(args.runs):
                result = {
                    "answer": wrk_with_ingest_rate(ingest_url, url, args.connections, args.seconds, ANSWER_PATHS),
                    "constant": wrk_with_ingest_rate(ingest_url, f"{url}/livez", args.connections, args.seconds),
                }
                runs.append(result)
                print(json.dumps({"run": run + 1, **result}), file=sys.stderr)
            mixed["under_ingest"] = wrk_mixed(url, args.connections, args.seconds)
            print(json.dumps({"mixed": mixed}), file=sys.stderr)
        print(f"background ingest: {len(ingest.rounds)} rounds; last: {ingest.rounds[-1] if ingest.rounds else '-'}",
              file=sys.stderr)
    finally:
        if ingest_server:
            ingest_server.stop()
        if server:
            server.stop()
    median = medians(runs, ("answer", "constant"), ("req_per_s", "p99_ms", "ingest_per_s"))
    summary = {
        "load": load,
        "one_client": single,
        "connections": args.connections,
        "ingest": "a second instance" if ingest_url != url else "the measured instance",
        "without_ingest_req_ratio": round(
            statistics.median(r["answer"]["req_per_s"] for r in quiet)
            / statistics.median(r["constant"]["req_per_s"] for r in quiet), 2),
        "without_ingest_req_ratios_per_run": [
            round(r["answer"]["req_per_s"] / r["constant"]["req_per_s"], 2) for r in quiet],
        "without_ingest_cpu_us_per_request": _cost_medians(quiet) if meter else None,
        "under_ingest_median": median,
        "req_ratio": round(median["answer"]["req_per_s"] / median["constant"]["req_per_s"], 2),
        "req_ratios_per_run": [round(r["answer"]["req_per_s"] / r["constant"]["req_per_s"], 2) for r in runs],
        "p99_ratio": round(median["answer"]["p99_ms"] / median["constant"]["p99_ms"], 2),
        "mixed": mixed,
        "background_ingest_rounds": ingest.rounds,
        "runs": runs,
    }
    report(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
