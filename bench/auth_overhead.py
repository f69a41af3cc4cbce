"""Cost of access control on the POST /data hot path, in process.

Posts the same gateway-like batches (BATCH readings over SENSORS sensors)
through the Flask app in four modes, interleaved round by round (order
rotated) so that machine noise hits them alike, against a private redis-server on loopback:

- open:        no key configured
- all-orgs:    an ingest key of org "*" (authentication only)
- org:         an ingest key of one org (the sensors' orgs come with the
               sensor metadata read every batch makes; claimed before)
- org+limit:   the same with a rate limit (plus one script call per request)

    .venv/bin/python -m bench.auth_overhead [--rounds 15] [--batches 60]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from service import create_app
from service import keys as redis_keys
from service.auth.keyring import KeyRing, parse_api_keys
from service.auth.sensors import sensor_orgs
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores

ALL_KEY = "bench_all_orgs_ingest_key_5e8c1a"
ORG_KEY = "bench_org_ingest_key_2d7f9b3e6c1a"
LIMITED_KEY = "bench_limited_ingest_key_8a4c2e9f"
KEYS = {
    ALL_KEY: {"role": "ingest", "org": "*"},
    ORG_KEY: {"role": "ingest", "org": "benchcorp"},
    LIMITED_KEY: {"role": "ingest", "org": "benchcorp", "rate_limit": 1_000_000},
}


def batches(count: int, size: int, sensors: int, start: int):
    """Bodies of distinct readings (new instants every batch)."""
    bodies = []
    for number in range(start, start + count):
        readings = [
            {"sensor": f"bench-{i % sensors}", "timestamp": f"2021-11-08T21:38:09.{number * size + i:06d}Z", "value": 20.5}
            for i in range(size)
        ]
        bodies.append(json.dumps(readings))
    return bodies


def run(client, bodies, headers) -> float:
    started = time.perf_counter()
    for body in bodies:
        response = client.post("/data", data=body, content_type="application/json", headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"unexpected {response.status_code}: {response.get_data(as_text=True)}")
    return time.perf_counter() - started


def best_us(action, repeat: int = 7, number: int = 300) -> float:
    """Microseconds per call of ``action``, best of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            action()
        best = min(best, (time.perf_counter() - started) / number)
    return best * 1e6


def component_costs(app, sensors: int) -> dict[str, float]:
    """What each access-control step costs on its own."""
    ring = KeyRing(parse_api_keys(json.dumps(KEYS)))
    ids = [f"bench-{i}" for i in range(sensors)]
    limiter = stores(app).access.limiter
    counter = [redis_keys.rate_limit("bench000000000000")]
    with app.app_context():
        return {
            "key lookup (hash + compare)": best_us(lambda: ring.lookup(ORG_KEY), number=20_000),
            f"org read of {sensors} sensors (1 round trip)": best_us(lambda: sensor_orgs(ids)),
            "rate-limit script (1 round trip)": best_us(lambda: limiter._count(keys=counter, args=[10**9])),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batches", type=int, default=60, help="batches per mode per round")
    parser.add_argument("--size", type=int, default=100, help="readings per batch")
    parser.add_argument("--sensors", type=int, default=20, help="distinct sensors per batch")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedRedis(data_dir, appendonly=False)
        server.start()
        try:
            base = Settings(redis_url=server.url, log_requests=False, log_level="ERROR")
            keyed_app = create_app(base.replace(api_keys_text=json.dumps(KEYS)))
            open_app = create_app(base)
            modes = {
                "open": (open_app.test_client(), {}),
                "all-orgs": (keyed_app.test_client(), {"Authorization": f"Bearer {ALL_KEY}"}),
                "org": (keyed_app.test_client(), {"Authorization": f"Bearer {ORG_KEY}"}),
                "org+limit": (keyed_app.test_client(), {"Authorization": f"Bearer {LIMITED_KEY}"}),
            }
            # Warm up, and let the org key claim the sensors once.
            for client, headers in modes.values():
                run(client, batches(20, args.size, args.sensors, 0), headers)
            seconds = {mode: [] for mode in modes}
            start = 1000
            order = list(modes)
            for round_number in range(args.rounds):
                # Rotate the order so that no mode always runs first or last.
                shift = round_number % len(order)
                for mode in order[shift:] + order[:shift]:
                    client, headers = modes[mode]
                    bodies = batches(args.batches, args.size, args.sensors, start)
                    start += args.batches
                    seconds[mode].append(run(client, bodies, headers) / args.batches)
            costs = component_costs(keyed_app, args.sensors)
        finally:
            server.stop()

    print(f"POST /data, {args.size} readings over {args.sensors} sensors per batch, "
          f"{args.rounds} rounds x {args.batches} batches per mode (best round: the least disturbed by other load)")
    baseline = min(seconds["open"])
    print(f"{'mode':<10} {'us/batch':>9} {'batches/s':>10} {'readings/s':>11} {'us vs open':>11} {'vs open':>8}")
    for mode, samples in seconds.items():
        per_batch = min(samples)
        print(f"{mode:<10} {per_batch * 1e6:>9.0f} {1 / per_batch:>10.0f} {args.size / per_batch:>11.0f} "
              f"{(per_batch - baseline) * 1e6:>+11.0f} {(per_batch / baseline - 1) * 100:>+7.1f}%")
    print("steps on their own (best of 7 runs):")
    for step, micros in costs.items():
        print(f"  {step:<40} {micros:>7.1f} us")


if __name__ == "__main__":
    main()
