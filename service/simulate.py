"""The fleet simulator of too hot or not, against a running sensorhub.

``python -m service.simulate --url http://127.0.0.1:8080`` plays N sites
(default 1,000) across orgs, one reading a minute each over the last
``--minutes`` minutes (ending now), time compressed by ``--speed`` (0: as
fast as the service takes it), with a share of duplicates, a share of
readings up to 24 h late (sent after later ones), and US orgs in Fahrenheit
and their own time zone. It keeps its own expectation of each site's answer
for each local day it touched, prints it, asks ``GET /v1/admin/toohotornot``
and reports any disagreement (exit status 1).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import random
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from . import units

EU_ZONE, US_ZONE = "Europe/Brussels", "America/New_York"


@dataclass
class Org:
    id: str
    unit: str
    timezone: str
    threshold: float


@dataclass
class DayExpectation:
    readings: int = 0
    max: float | None = None
    max_at: int | None = None  # seconds since the epoch
    minutes: dict = field(default_factory=dict)  # minute start (s) -> highest °C

    def add(self, timestamp: float, celsius: float) -> None:
        self.readings += 1
        if self.max is None or celsius > self.max or (celsius == self.max and timestamp < self.max_at):
            self.max, self.max_at = celsius, timestamp
        minute = int(timestamp // 60)
        self.minutes[minute] = max(celsius, self.minutes.get(minute, celsius))


class Client:
    """One keep-alive HTTP connection (one per sending thread)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, path: str, body=None) -> tuple[int, dict]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in range(5):
            try:
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                time.sleep(0.1 * (attempt + 1))
                continue
            if response.status == 503:
                time.sleep(0.1 * (attempt + 1))
                continue
            return response.status, json.loads(data) if data else {}
        raise RuntimeError(f"{method} {path}: no answer after 5 attempts")


def build_fleet(args, rng: random.Random) -> tuple[list[Org], list[tuple[str, Org]]]:
    orgs = []
    for number in range(args.orgs):
        us = number < round(args.orgs * args.us_share)
        orgs.append(Org(
            id=f"{args.prefix}-org{number:03d}",
            unit="F" if us else "C",
            timezone=US_ZONE if us else EU_ZONE,
            threshold=rng.choice((24.0, 25.0, 26.0)),
        ))
    sites = [(f"{args.prefix}-site{number:05d}", orgs[number % len(orgs)]) for number in range(args.sites)]
    return orgs, sites


def build_readings(args, sites, rng: random.Random, now: float) -> list[tuple[float, dict, float]]:
    """(send instant in simulated time, reading, °C as the service will store it)."""
    first_minute = int(now // 60) - args.minutes
    events = []
    for site_id, org in sites:
        second = rng.randrange(60)
        base = rng.uniform(19.0, 26.0)
        for minute in range(first_minute, first_minute + args.minutes):
            timestamp: float = minute * 60 + second
            if rng.random() < args.fraction_share:
                timestamp += rng.randrange(1, 1000) / 1000
            wave = 2.5 * math.sin(2 * math.pi * (minute % 1440) / 1440)
            celsius_sent = base + wave + rng.gauss(0, 0.4)
            if org.unit == "F":
                sent = round(celsius_sent * 9 / 5 + 32, 1)
            else:
                sent = round(celsius_sent, 2)
            reading = {"siteId": site_id, "orgId": org.id, "temperature": sent, "timestamp": timestamp}
            send_at = timestamp
            if rng.random() < args.late_share:
                send_at = min(now, timestamp + rng.uniform(60, 24 * 3600))
            stored = units.to_canonical(float(sent), org.unit)
            events.append((send_at, reading, stored))
            if rng.random() < args.duplicate_share:
                events.append((min(now, send_at + rng.uniform(0, 600)), dict(reading), stored))
    events.sort(key=lambda event: event[0])
    return events


def expectations(sites, events) -> dict:
    """site -> local date -> DayExpectation, over distinct readings."""
    zones = {}
    seen = set()
    expected: dict[str, dict] = {site_id: {} for site_id, _ in sites}
    org_of = dict(sites)
    for _, reading, stored in events:
        key = (reading["siteId"], reading["timestamp"])
        if key in seen:
            continue
        seen.add(key)
        org = org_of[reading["siteId"]]
        zone = zones.setdefault(org.timezone, ZoneInfo(org.timezone))
        day = datetime.fromtimestamp(reading["timestamp"], zone).date().isoformat()
        expected[reading["siteId"]].setdefault(day, DayExpectation()).add(reading["timestamp"], stored)
    return expected


class Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done = total, enabled, 0
        self.accepted = self.duplicates = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def advance(self, count: int, result: dict) -> None:
        with self.lock:
            self.done += count
            self.accepted += result.get("accepted", 0)
            self.duplicates += result.get("duplicates", 0)
            if self.enabled:
                share = self.done / self.total if self.total else 1
                rate = self.done / max(time.monotonic() - self.started, 1e-9)
                bar = "#" * int(share * 30)
                sys.stderr.write(f"\r[{bar:<30}] {share:6.1%} {self.done}/{self.total} readings {rate:8.0f}/s")
                sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def send_all(args, events, now: float, progress: Progress) -> None:
    """Send events in send order; the simulated clock runs ``speed`` times
    faster than the real one from the first event (0: no waiting)."""
    batches: list[tuple[float, list[dict]]] = []
    for send_at, reading, _ in events:
        if not batches or len(batches[-1][1]) >= args.batch:
            batches.append((send_at, []))
        batches[-1][1].append(reading)
    start_sim = events[0][0] if events else now
    start_real = time.monotonic()
    lock = threading.Lock()
    position = iter(batches)
    failures: list[str] = []

    def worker() -> None:
        client = Client(args.url)
        while True:
            with lock:
                batch = next(position, None)
            if batch is None or failures:
                return
            send_at, readings = batch
            if args.speed > 0:
                delay = (send_at - start_sim) / args.speed - (time.monotonic() - start_real)
                if delay > 0:
                    time.sleep(delay)
            status, body = client.request("POST", "/v1/temperatures", readings)
            if status != 200:
                failures.append(f"POST /v1/temperatures answered {status}: {body}")
                return
            progress.advance(len(readings), body)

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])


def compare(expected: DayExpectation, answer: dict, org: Org) -> list[str]:
    problems = []
    want_hot = expected.max is not None and expected.max > org.threshold
    want_above = sum(1 for value in expected.minutes.values() if value > org.threshold)
    if answer["readings"] != expected.readings:
        problems.append(f"readings {answer['readings']} != {expected.readings}")
    if answer["tooHot"] != want_hot:
        problems.append(f"tooHot {answer['tooHot']} != {want_hot}")
    if answer["minutesAbove"] != want_above:
        problems.append(f"minutesAbove {answer['minutesAbove']} != {want_above}")
    want_max = units.shown(expected.max, answer["unit"])
    if (want_max is None) != (answer["maxTemperature"] is None) or (
        want_max is not None and abs(answer["maxTemperature"] - want_max) > 1e-3
    ):
        problems.append(f"maxTemperature {answer['maxTemperature']} != {want_max}")
    if expected.max_at is not None:
        got = datetime.fromisoformat(answer["maxAt"]).timestamp()
        if abs(got - expected.max_at) > 1e-3:
            problems.append(f"maxAt {answer['maxAt']} != {datetime.fromtimestamp(expected.max_at, UTC).isoformat()}")
    return problems


def check(args, sites, expected, out) -> int:
    client = Client(args.url)
    mismatches = checked = 0
    for site_id, org in sites:
        for day, expectation in sorted(expected[site_id].items()):
            query = urlencode({"siteId": site_id, "date": day})
            status, answer = client.request("GET", f"/v1/admin/toohotornot?{query}")
            checked += 1
            if status != 200:
                mismatches += 1
                print(f"{site_id} {day}: answered {status}: {answer}", file=out)
                continue
            problems = compare(expectation, answer, org)
            mismatches += bool(problems)
            if problems or not args.quiet:
                want_max = units.shown(expectation.max, org.unit)
                verdict = "MISMATCH " + "; ".join(problems) if problems else "ok"
                print(
                    f"{site_id} {org.id} {day}: expected tooHot={expectation.max is not None and expectation.max > org.threshold}"
                    f" max={want_max if want_max is None else round(want_max, 3)}{org.unit}"
                    f" minutesAbove={sum(1 for v in expectation.minutes.values() if v > org.threshold)}"
                    f" readings={expectation.readings} -> {verdict}",
                    file=out,
                )
    print(f"checked {checked} site-days: {checked - mismatches} agree, {mismatches} disagree", file=out)
    return mismatches


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service.simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the running service")
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--us-share", type=float, default=0.25, help="share of orgs in Fahrenheit, New York time")
    parser.add_argument("--minutes", type=int, default=60, help="simulated minutes, ending now")
    parser.add_argument("--speed", type=float, default=0, help="time compression factor (0: full speed)")
    parser.add_argument("--duplicate-share", type=float, default=0.05)
    parser.add_argument("--late-share", type=float, default=0.05, help="share of readings sent up to 24 h late")
    parser.add_argument("--fraction-share", type=float, default=0.02, help="share of sub-second timestamps")
    parser.add_argument("--batch", type=int, default=200, help="readings per POST")
    parser.add_argument("--concurrency", type=int, default=4, help="sending threads")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--prefix", default=None, help="id prefix (default: random, so runs do not mix)")
    parser.add_argument("--no-check", action="store_true", help="only send")
    parser.add_argument("--quiet", action="store_true", help="print only disagreements and the summary")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.prefix = args.prefix or f"sim{secrets.token_hex(3)}"
    return args


def main(argv=None, out=sys.stdout) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    now = time.time()
    orgs, sites = build_fleet(args, rng)
    client = Client(args.url)
    for org in orgs:
        status, body = client.request(
            "PUT", f"/v1/orgs/{org.id}", {"unit": org.unit, "timezone": org.timezone, "threshold": org.threshold}
        )
        if status != 200:
            print(f"PUT /v1/orgs/{org.id} answered {status}: {body}", file=out)
            return 2
    events = build_readings(args, sites, rng, now)
    duplicates = len(events) - len({(r["siteId"], r["timestamp"]) for _, r, _ in events})
    late = sum(1 for send_at, r, _ in events if send_at - r["timestamp"] > 60)
    progress = Progress(len(events), not args.no_progress)
    started = time.monotonic()
    send_all(args, events, now, progress)
    progress.finish()
    elapsed = time.monotonic() - started
    print(
        f"sent {len(events)} readings of {args.sites} sites ({len(orgs)} orgs, "
        f"{sum(o.unit == 'F' for o in orgs)} in F) in {elapsed:.1f} s ({len(events) / max(elapsed, 1e-9):.0f}/s): "
        f"{duplicates} duplicates, {late} late; service: {progress.accepted} accepted, "
        f"{progress.duplicates} duplicates",
        file=out,
    )
    if args.no_check:
        return 0
    return 1 if check(args, sites, expectations(sites, events), out) else 0


if __name__ == "__main__":
    sys.exit(main())
