"""sensorhub beside its peers, in one run: ratios, not absolute figures.

Each system runs alone in turn (started, loaded, stopped), in rounds that
alternate the order; medians over the rounds, each round's value kept, and
sensorhub's figure as a ratio to each peer's from the same run. The peers
(bench/peers/, README there):

- ``ceiling``: Flask under gunicorn (2 workers, gthread 4) answering
  ``GET /statistics/<id>`` with a constant, the HTTP ceiling of the machine;
- ``postgres``: Flask + PostgreSQL 15 (same gunicorn), one sorted
  ``INSERT ... ON CONFLICT DO NOTHING`` per batch, statistics by SQL;
- ``influxdb``: Debian's InfluxDB 1.6, its own ``/write`` and ``/query``.

Ingest: bench/ingest.py's generator (10 % re-sent copies in another UTC
offset, 5 % up to 24 h late), two shapes: ``many_sensors`` (batches of 500
readings of 400 sensors behind a gateway, 1.25 readings per sensor) and
``many_readings`` (the default gateway of 50 sensors, 10 readings per
sensor), 8 keep-alive connections. Systems: sensorhub ``POST /data`` (JSON,
spawned as `make run` starts it), sensorhub ``POST /write?precision=us``
(the same readings as line protocol; sensorhub spells microseconds ``us``), the PostgreSQL peer (JSON), InfluxDB
(the same line-protocol bodies). Readings/s, and CPU per posted reading by
process from /proc: web workers, store (redis-server / postgres / influxd),
client (this process). After each run sampled sensors' count and average
(and latest instant where the system has it) are checked against the
generator's: re-sent copies must not count twice.

Reads: wrk at 16 connections, ``GET /statistics/<random sensor>`` of
sensorhub, the ceiling's constant route, sensorhub's ``/livez``, the
PostgreSQL peer's ``GET``, InfluxDB's count/mean/last query; req/s, p50,
p99. Loaded with the many-readings data of the same round.

Prints JSON; exits 1 if any exactness check failed or a read answered
other than 2xx. Loopback only. Needs
``apt-get install -y postgresql influxdb wrk`` and bench/requirements.txt.

    python bench/peers.py                 # 5 rounds, about 9 minutes; readings dated up to now
    python bench/peers.py --when backlog  # the same, readings a month old (an import)
    python bench/peers.py --rounds 3 --json /tmp/peers.json   # quicker, noisier
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import line_protocol  # noqa: E402
from bench.ingest import START, SpawnedService, check, expected_statistics, generate  # noqa: E402
from bench.read import RANDOM_PATH, UNITS  # noqa: E402
from service import timeutil  # noqa: E402
from tests.servers import free_port  # noqa: E402

PEERS = Path(__file__).resolve().parent / "peers"
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
TICKS = os.sysconf("SC_CLK_TCK")
SHAPES = {"many_sensors": 400, "many_readings": 50}  # sensors behind one gateway
INGEST = ("sensorhub_json", "sensorhub_lines", "postgres", "influxdb")
READS = ("sensorhub", "livez", "ceiling", "postgres", "influxdb")
INFLUX_QUERY = "SELECT count(value), mean(value), last(value) FROM readings WHERE sensor='{sensor}'"


# -- CPU from /proc ---------------------------------------------------------

def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, CPU ticks: own utime + stime and reaped children's)."""
    stats = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        stats[int(path.parent.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    return stats


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant; a descendant that
    ended was reaped into its parent's children's time, so nothing is lost."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0))[1]
        todo.extend(children.get(pid, ()))
    return total / TICKS


def self_cpu_seconds() -> float:
    fields = Path("/proc/self/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- the systems ------------------------------------------------------------

def _run(*command: str, env: dict | None = None) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout


class Sensorhub:
    """sensorhub as `make run` starts it: gunicorn, 2 gevent workers, embedded Redis."""

    store = "redis"

    def __init__(self, lines: bool = False):
        self.lines = lines
        self.write = ("/write?precision=us", "text/plain; charset=utf-8", 204) if lines else (
            "/data", "application/json", 200)

    def start(self):
        self.service = SpawnedService().start()
        self.url = self.service.url
        self.web_pid, self.store_pid = self.service.web.process.pid, self.service.redis.process.pid
        return self

    def stop(self):
        if hasattr(self, "url"):  # started (a half-started service's Redis ends with this process)
            self.service.stop()

    def check(self, sensors, minutes, sample, seed, start):
        return check(self.url, sensors, minutes, sample, seed, start)


class GunicornPeer:
    """A peer app of bench/peers under serve.sh (2 workers, gthread 4)."""

    def __init__(self, name: str, appdir: str, env: dict | None = None):
        self.name, self.appdir, self.env = name, appdir, env or {}

    def start(self):
        port = free_port()
        _run(str(PEERS / "serve.sh"), self.name, str(port), self.appdir, "app:app", "gthread", "4",
             env={**os.environ, **self.env, "GUNICORN": GUNICORN})
        self.url = f"http://127.0.0.1:{port}"
        self.web_pid = int((PEERS / "out" / f"{self.name}.pid").read_text())
        return self

    def stop(self):
        _run(str(PEERS / "stop.sh"), self.name)


class Ceiling(GunicornPeer):
    def __init__(self):
        super().__init__("ceil", "ceiling")


class Postgres(GunicornPeer):
    """Flask + PostgreSQL 15: the cluster is started, its table dropped (a
    fresh database each run), then the app; both stopped afterwards."""

    store = "postgres"
    write = ("/data", "application/json", 200)

    def __init__(self):
        super().__init__("pg", "pg_flask", {"PG_DSN": "dbname=bench"})

    def start(self):
        _run(str(PEERS / "pg_flask" / "setup_pg.sh"), "start")
        _run("psql", "-qAt", "-d", "bench", "-c", "DROP TABLE IF EXISTS readings")
        self.store_pid = int(_run(str(PEERS / "pg_flask" / "setup_pg.sh"), "pid").strip())
        return super().start()

    def stop(self):
        super().stop()
        _run(str(PEERS / "pg_flask" / "setup_pg.sh"), "stop")

    def check(self, sensors, minutes, sample, seed, start):
        # Same answer shape as sensorhub's GET /statistics.
        return check(self.url, sensors, minutes, sample, seed, start)


class Influx:
    """Debian's InfluxDB 1.6 via run_influx.sh, on an emptied data directory."""

    store = "influxdb"
    write = ("/write?db=bench&precision=u", "text/plain; charset=utf-8", 204)
    web_pid = None

    def start(self):
        shutil.rmtree(PEERS / "out" / "influx", ignore_errors=True)
        port = free_port()
        _run(str(PEERS / "influx" / "run_influx.sh"), str(port))
        self.url = f"http://127.0.0.1:{port}"
        self.store_pid = int((PEERS / "out" / "influx.pid").read_text())
        return self

    def stop(self):
        _run(str(PEERS / "stop.sh"), "influx")

    def check(self, sensors, minutes, sample, seed, start):
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        problems = []
        for sensor in random.Random(seed + 1).sample(range(sensors), min(sample, sensors)):
            name = f"sensor-{sensor:05d}"
            # last() alone answers with the instant of the latest point.
            query = INFLUX_QUERY.format(sensor=name) + f";SELECT last(value) FROM readings WHERE sensor='{name}'"
            conn.request("GET", f"/query?db=bench&epoch=u&q={quote(query)}")
            results = orjson.loads(conn.getresponse().read())["results"]
            want = expected_statistics(sensor, minutes, start)
            try:
                _, count, mean, _ = results[0]["series"][0]["values"][0]
                last_us = results[1]["series"][0]["values"][0][0]
            except (KeyError, IndexError):
                problems.append(f"{name}: no answer {results}")
                continue
            want_last_us = int(want["last"].timestamp()) * 1_000_000
            if count != want["count"] or abs(mean - want["avg"]) > 1e-9 or last_us != want_last_us:
                problems.append(f"{name}: got count {count} mean {mean} last {last_us}, want {want}")
        conn.close()
        return problems


@contextmanager
def running(system):
    """``system`` started, and stopped afterwards, also when its start
    failed halfway (a PostgreSQL cluster is not left running)."""
    try:
        yield system.start()
    finally:
        system.stop()


def ingest_system(name: str):
    return {"sensorhub_json": lambda: Sensorhub(), "sensorhub_lines": lambda: Sensorhub(lines=True),
            "postgres": Postgres, "influxdb": Influx}[name]()


# -- load ---------------------------------------------------------------------

def as_line_protocol(body: bytes) -> bytes:
    """The readings of a POST /data body as line protocol, microseconds
    (InfluxDB's measurement ``readings``; sensorhub takes the tag ``sensor``)."""
    return "\n".join(
        f"readings,sensor={item['sensor']} value={item['value']!r} {timeutil.parse_instant(item['timestamp'])[0]}"
        for item in orjson.loads(body)
    ).encode()


def post_all(url: str, write: tuple[str, str, int], bodies: list[bytes], connections: int):
    """``bodies`` posted over ``connections`` keep-alive connections:
    (seconds, errors as text)."""
    path, content_type, ok = write
    seconds, errors = line_protocol.post_all(url, path, content_type, ok, bodies, connections)
    return seconds, [f"{status} {payload!r}" for status, payload in errors]


def ingest_run(system, bodies: list[bytes], posted: int, args, minutes: int, start: datetime) -> dict:
    def snapshot() -> dict[str, float]:
        # InfluxDB has no web front of its own: its HTTP is influxd's CPU.
        web = {"web": tree_cpu_seconds(system.web_pid)} if system.web_pid else {}
        return {**web, system.store: tree_cpu_seconds(system.store_pid), "client": self_cpu_seconds()}

    before = snapshot()
    elapsed, errors = post_all(system.url, system.write, bodies, args.connections)
    after = snapshot()
    problems = errors[:5] + system.check(args.sensors, minutes, args.sample, args.seed, start)
    return {
        "readings_per_s": round(posted / elapsed),
        "cpu_us_per_reading": {k: round((after[k] - before[k]) * 1e6 / posted, 2) for k in before},
        "errors": len(errors),
        "exact": not problems,
        "problems": problems[:5],
    }


# -- reads --------------------------------------------------------------------

def wrk(url: str, path_format: str | None, connections: int, seconds: int, paths: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["-s", str(RANDOM_PATH), url, "--", path_format, str(paths)] if path_format else [url]
    output = _run(*command)

    def percentile(p: str) -> float:
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return round(float(value) * UNITS[unit], 2)

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"req_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))),
            "p50_ms": percentile("50"), "p99_ms": percentile("99"), "non_2xx": int(errors.group(1)) if errors else 0}


def influx_read_format() -> str:
    """InfluxDB's query for a random sensor as random_path.lua's format:
    URL-quoted, its own ``%`` doubled, the sensor a ``%05d``."""
    query = quote(INFLUX_QUERY.format(sensor="SENSOR")).replace("%", "%%")
    return "/query?db=bench&q=" + query.replace("SENSOR", "sensor-%05d")


def reads(system_name: str, system, args) -> dict:
    read = lambda url, fmt=None: wrk(url, fmt, args.read_connections, args.read_seconds, args.sensors)  # noqa: E731
    if system_name == "sensorhub_json":
        return {"sensorhub": read(system.url, "/statistics/sensor-%05d"), "livez": read(f"{system.url}/livez")}
    if system_name == "postgres":
        return {"postgres": read(system.url, "/statistics/sensor-%05d")}
    if system_name == "influxdb":
        return {"influxdb": read(system.url, influx_read_format())}
    return {}


# -- the run ------------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarize(rounds: list[dict]) -> dict:
    ingest = {}
    for shape in SHAPES:
        by_system = {s: [r["ingest"][shape][s] for r in rounds] for s in INGEST}
        rate = {s: median(x["readings_per_s"] for x in runs) for s, runs in by_system.items()}
        cpu = {s: {k: median(x["cpu_us_per_reading"][k] for x in runs) for k in runs[0]["cpu_us_per_reading"]}
               for s, runs in by_system.items()}
        ratios = {}
        for ours in ("sensorhub_json", "sensorhub_lines"):
            for peer in ("postgres", "influxdb") + (("sensorhub_json",) if ours == "sensorhub_lines" else ()):
                per_round = [round(a["readings_per_s"] / b["readings_per_s"], 3)
                             for a, b in zip(by_system[ours], by_system[peer], strict=True)]
                cpu_ours = sum(cpu[ours].values())
                ratios[f"{ours}/{peer}"] = {
                    "readings_per_s": median(per_round), "per_round": per_round,
                    # readings one CPU second takes in, all processes counted (client too)
                    "readings_per_cpu_second": round(sum(cpu[peer].values()) / cpu_ours, 3) if cpu_ours else None,
                }
        ingest[shape] = {
            "median_readings_per_s": rate,
            "per_round_readings_per_s": {s: [x["readings_per_s"] for x in runs] for s, runs in by_system.items()},
            "median_cpu_us_per_reading": cpu,
            "ratios": ratios,
        }
    reads_ = {route: {k: median(r["reads"][route][k] for r in rounds) for k in ("req_per_s", "p50_ms", "p99_ms")}
              for route in READS}
    read_ratios = {}
    for peer in READS[1:]:
        per_round = [round(r["reads"]["sensorhub"]["req_per_s"] / r["reads"][peer]["req_per_s"], 3) for r in rounds]
        p99 = [round(r["reads"]["sensorhub"]["p99_ms"] / r["reads"][peer]["p99_ms"], 3) for r in rounds]
        read_ratios[f"sensorhub/{peer}"] = {"req_per_s": median(per_round), "per_round": per_round,
                                            "p99": median(p99), "p99_per_round": p99}
    return {"ingest": ingest, "reads": {"median": reads_, "ratios": read_ratios}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each system once a round per shape")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes-many-sensors", type=int, default=60, help="readings per sensor, many-sensors shape")
    parser.add_argument("--minutes-many-readings", type=int, default=None,
                        help="readings per sensor, many-readings shape (the reads' data); default 120 live, 300 backlog")
    parser.add_argument("--when", choices=("live", "backlog"), default="live", help=(
        "live: the readings end at the minute the bench starts, as gateways flushing every minute or ten send "
        "them (those of the last hour wait for the worker's hourly seal, older ones roll up as they land); "
        "backlog: a month old (bench/ingest.py's START), a backlog being imported: every new reading merges "
        "into its hourly and daily history bucket in the call that accepts it"))
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--read-connections", type=int, default=16)
    parser.add_argument("--read-seconds", type=int, default=5)
    parser.add_argument("--sample", type=int, default=100, help="sensors checked after each ingest run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()
    for tool in ("wrk", "influxd", "pg_ctlcluster"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install -y postgresql influxdb wrk")

    if args.minutes_many_readings is None:
        args.minutes_many_readings = 120 if args.when == "live" else 300
    minutes = {"many_sensors": args.minutes_many_sensors, "many_readings": args.minutes_many_readings}
    loads = {}
    for shape, gateway in SHAPES.items():
        start = START
        if args.when == "live":
            start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes[shape] - 1)
        loads[shape] = {"start": start}
        bodies = generate(args.sensors, minutes[shape], args.batch, 0.10, 0.05, args.seed, gateway, start)
        lines = [as_line_protocol(body) for body in bodies]
        loads[shape].update(json=bodies, lines=lines, posted=sum(b.count(b'"sensor"') for b in bodies))
        print(f"{shape}: {len(bodies)} batches, {loads[shape]['posted']} readings", file=sys.stderr)

    started = time.monotonic()
    rounds = []
    for number in range(args.rounds):
        # Alternating the order cancels a drift of the machine's other load.
        order = (INGEST + ("ceiling",)) if number % 2 == 0 else (("ceiling",) + INGEST[::-1])
        result = {"ingest": {shape: {} for shape in SHAPES}, "reads": {}}
        for name in order:
            if name == "ceiling":
                with running(Ceiling()) as system:
                    result["reads"]["ceiling"] = wrk(system.url, "/statistics/sensor-%05d", args.read_connections,
                                                     args.read_seconds, args.sensors)
                continue
            for shape in SHAPES:
                with running(ingest_system(name)) as system:
                    kind = "lines" if name in ("sensorhub_lines", "influxdb") else "json"
                    run = ingest_run(system, loads[shape][kind], loads[shape]["posted"], args, minutes[shape],
                                     loads[shape]["start"])
                    result["ingest"][shape][name] = run
                    print(json.dumps({"round": number + 1, "shape": shape, "system": name, **run}), file=sys.stderr)
                    if shape == "many_readings":
                        result["reads"].update(reads(name, system, args))
        print(json.dumps({"round": number + 1, "reads": result["reads"]}), file=sys.stderr)
        rounds.append(result)

    summary = {
        "load": {"when": args.when, "sensors": args.sensors, "batch": args.batch, "connections": args.connections,
                 "dup_share": 0.10, "late_share": 0.05,
                 "shapes": {s: {"gateway_size": SHAPES[s], "minutes": minutes[s], "posted": loads[s]["posted"]}
                            for s in SHAPES},
                 "read_connections": args.read_connections, "read_seconds": args.read_seconds},
        **summarize(rounds),
        "all_exact": all(run["exact"] for r in rounds for shape in r["ingest"].values() for run in shape.values()),
        "reads_all_2xx": all(read["non_2xx"] == 0 for r in rounds for read in r["reads"].values()),
        "seconds": round(time.monotonic() - started),
        "rounds": rounds,
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if summary["all_exact"] and summary["reads_all_2xx"] else 1


if __name__ == "__main__":
    sys.exit(main())
