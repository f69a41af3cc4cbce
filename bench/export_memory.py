"""Export benchmark: memory of the server while it streams a year of history.

For each fleet size (default 1 and 100 sensors) starts a fresh embedded
redis-server and gunicorn (one web worker, no background worker, so one
process serves every request), fills a year of readings, one an hour per
sensor ending now, through POST /data (5,000 readings a batch), then
downloads exports of one day and of the whole year (GET
/v1/sensors/<id>/export for one sensor, GET /v1/export?sensors=... for
many), CSV and NDJSON. While each download runs, the web worker's RSS is
sampled (psutil, every 10 ms): the table gives it before the download, its
peak, and rows/s and bytes of the download. Memory that stays flat from a
day to a year, and from 1 to 100 sensors, is what streaming promises.

    python bench/export_memory.py
    python bench/export_memory.py --sensors 1,10 --days 30
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import timeutil  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from tests.servers import GunicornServer  # noqa: E402

HOUR_US = 3600 * 1_000_000
# Readings per POST /data; one batch at a time (old readings each touch their
# history buckets: a large batch of them keeps Redis busy for seconds).
BATCH = 5_000
MIB = 1024 * 1024


class Server:
    """An embedded Redis and gunicorn with one web worker, on a fresh directory."""

    def __enter__(self) -> Server:
        data_dir = Path(tempfile.mkdtemp(prefix="sensorhub-export-bench-"))
        self.redis = EmbeddedRedis(data_dir)
        redis_url = self.redis.start()
        self.web = GunicornServer({"REDIS_URL": redis_url, "WORKER": "0"}, workers=1,
                                  log_path=data_dir / "gunicorn.log").start()
        self.url = self.web.url
        return self

    def worker(self) -> psutil.Process:
        """The one web worker (the gunicorn master's only child)."""
        children = psutil.Process(self.web.process.pid).children()
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {len(children)}")
        return children[0]

    def __exit__(self, *exc) -> None:
        self.web.stop()
        self.redis.stop()


def fill(url: str, sensors: list[str], hours: int, end_us: int, connections: int = 1) -> tuple[int, float]:
    """One reading an hour per sensor over ``hours`` hours before ``end_us``,
    posted in batches of BATCH; returns (readings, seconds)."""
    first = end_us - end_us % HOUR_US - hours * HOUR_US

    def items():
        for hour in range(hours):
            at = timeutil.us_to_iso(first + hour * HOUR_US + 7_000_000)
            for position, sensor in enumerate(sensors):
                yield {"sensor": sensor, "timestamp": at, "value": round(15 + (hour + position) % 100 / 10, 2)}

    def batches():
        batch = []
        for item in items():
            batch.append(item)
            if len(batch) == BATCH:
                yield json.dumps(batch)
                batch = []
        if batch:
            yield json.dumps(batch)

    session = requests.Session()

    def post(body: str) -> int:
        for _attempt in range(3):  # after a 503, re-sent readings count once
            response = session.post(f"{url}/data", data=body, headers={"Content-Type": "application/json"}, timeout=120)
            if response.status_code != 503:
                break
        response.raise_for_status()
        return response.json()["accepted"]

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        accepted = sum(pool.map(post, batches()))
    return accepted, time.perf_counter() - started


class PeakRss:
    """Samples a process's RSS in a thread until stopped; keeps the peak."""

    def __init__(self, process: psutil.Process, interval: float = 0.01):
        self.process, self.interval = process, interval
        self.before = self.peak = process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def download(url: str, path: str, params: dict) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of one streamed download."""
    started = time.perf_counter()
    lines = size = 0
    with requests.get(f"{url}{path}", params=params, stream=True, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    rows = lines - 1 if params["format"] == "csv" else lines  # CSV: the header line
    return rows, size, elapsed


def run(count: int, days: int, formats: list[str]) -> list[dict]:
    sensors = [f"exp-{i:05d}" for i in range(count)]
    now = timeutil.now_us()
    results = []
    with Server() as server:
        readings, seconds = fill(server.url, sensors, days * 24, now)
        print(f"{count} sensors: {readings} readings posted in {seconds:.1f} s", file=sys.stderr)
        worker = server.worker()
        path, params = (f"/v1/sensors/{sensors[0]}/export", {}) if count == 1 else ("/v1/export", {"sensors": ",".join(sensors)})
        for span_days in (1, days):
            for form in formats:
                query = {**params, "start": (now - span_days * 86400 * 1_000_000) // 1_000_000, "format": form}
                with PeakRss(worker) as rss:
                    rows, size, elapsed = download(server.url, path, query)
                results.append({
                    "sensors": count, "days": span_days, "format": form, "rows": rows, "bytes": size,
                    "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed), "mb_per_s": round(size / MIB / elapsed, 1),
                    "rss_before_mib": round(rss.before / MIB, 1), "rss_peak_mib": round(rss.peak / MIB, 1),
                    "rss_growth_mib": round((rss.peak - rss.before) / MIB, 1),
                })
                print(json.dumps(results[-1]), file=sys.stderr)
    return results


def table(results: list[dict]) -> str:
    columns = ("sensors", "days", "format", "rows", "bytes", "seconds", "rows_per_s", "mb_per_s",
               "rss_before_mib", "rss_peak_mib", "rss_growth_mib")
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for result in results:
        lines.append("| " + " | ".join(f"{result[column]:,}" if isinstance(result[column], int) else str(result[column])
                                       for column in columns) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", default="1,100", help="fleet sizes, comma-separated")
    parser.add_argument("--days", type=int, default=365, help="days of hourly readings (within the 1h tier's 400)")
    parser.add_argument("--formats", default="csv,ndjson")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = []
    for count in (int(part) for part in args.sensors.split(",")):
        results += run(count, args.days, args.formats.split(","))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
