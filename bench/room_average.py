"""Room average benchmark: latency of GET .../average?window=15m from one client.

Starts what `make run` starts (gunicorn, 2 workers, embedded Redis), fills
ROOMS rooms of SENSORS sensors each with HOURS hours of one reading a minute
per sensor (through POST /v1/buildings/<b>/rooms/<r>/temperatures), then
one client on one keep-alive connection asks for the 15-minute average of
random rooms, REQUESTS times, and reports p50/p99/max latency. Every answer
is checked: count is SENSORS x 15 and the average matches the generator.

    python bench/room_average.py
    python bench/room_average.py --sensors 20 --rooms 10 --requests 5000
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import SpawnedService  # noqa: E402

MINUTE = 60


def value_of(room: int, sensor: int, minute: int) -> float:
    return round(19 + room % 5 + sensor % 3 + (minute * 7 % 20) / 10, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=20, help="sensors per room")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--hours", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    server = SpawnedService().start()
    try:
        parts = urlsplit(server.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        # Whole minutes, ending a minute before the window's end: every
        # window below holds exactly 15 readings per sensor.
        end = (int(time.time()) // MINUTE) * MINUTE
        first = end - args.hours * 3600
        minutes = range(args.hours * 60)
        for room in range(args.rooms):
            body = [
                {"sensor": f"b1-r{room}-s{sensor}", "timestamp": first + m * MINUTE, "value": value_of(room, sensor, m)}
                for sensor in range(args.sensors)
                for m in minutes
            ]
            conn.request("POST", f"/v1/buildings/B1/rooms/R{room}/temperatures", body=orjson.dumps(body), headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise SystemExit(f"seeding failed: {response.status} {payload[:300]!r}")
        window_minutes = minutes[-15:]
        expected = {
            room: sum(value_of(room, s, m) for s in range(args.sensors) for m in window_minutes) / (15 * args.sensors)
            for room in range(args.rooms)
        }
        rng = random.Random(3)
        latencies, wrong = [], 0
        for _ in range(args.requests):
            room = rng.randrange(args.rooms)
            began = time.perf_counter()
            conn.request("GET", f"/v1/buildings/B1/rooms/R{room}/average?window=15m&end={end}")
            response = conn.getresponse()
            payload = response.read()
            latencies.append(time.perf_counter() - began)
            answer = orjson.loads(payload)
            if response.status != 200 or answer["count"] != 15 * args.sensors or abs(answer["avg"] - expected[room]) > 1e-9:
                wrong += 1
        conn.close()
    finally:
        server.stop()
    latencies.sort()
    result = {
        "sensors_per_room": args.sensors,
        "rooms": args.rooms,
        "requests": args.requests,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "wrong_answers": wrong,
    }
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
