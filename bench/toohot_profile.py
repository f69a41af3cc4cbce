"""In-process profile of GET /v1/admin/toohotornot against GET /livez.

Starts an embedded Redis, loads SITES sites (an hour of readings each through
POST /v1/temperatures), then asks the Flask test client N times per route:
mean microseconds per request, Redis round trips per request (packed
commands sent: a pipeline or a script call is one), and optionally the top
of a cProfile of the answer.

    python bench/toohot_profile.py                 # timings and round trips
    python bench/toohot_profile.py --profile 25    # plus the 25 costliest functions
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import redis.connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import create_app  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.stores import stores

ROUND_TRIPS = [0]
_send = redis.connection.Connection.send_packed_command


def _counted_send(self, command, check_health=True):
    ROUND_TRIPS[0] += 1
    return _send(self, command, check_health)


def load(client, sites: int, now: float) -> None:
    start = int(now) - 3600
    for site in range(sites):
        body = [
            {"siteId": f"prof-site{site:04d}", "orgId": f"org{site % 10}",
             "temperature": 20 + (minute % 9), "timestamp": start + 60 * minute}
            for minute in range(60)
        ]
        assert client.post("/v1/temperatures", json=body).status_code == 200


def measure(client, paths: list[str], repeat: int) -> tuple[float, float]:
    """(mean us per request, round trips per request)."""
    for path in paths[:50]:
        client.get(path)
    ROUND_TRIPS[0] = 0
    started = time.perf_counter()
    for index in range(repeat):
        response = client.get(paths[index % len(paths)])
        assert response.status_code < 300, response.status_code
    elapsed = time.perf_counter() - started
    return elapsed / repeat * 1e6, ROUND_TRIPS[0] / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3000)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions of the answer")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    args = parser.parse_args()
    redis.connection.Connection.send_packed_command = _counted_send
    with tempfile.TemporaryDirectory() as directory:
        server = EmbeddedRedis(Path(directory), unix_socket=False, appendonly=False)
        server.start()
        try:
            # As served: request logging on (it goes to a discarded stream here).
            app = create_app(Settings(redis_url=server.url, log_level="WARNING", log_requests=True))
            client = app.test_client()
            load(client, args.sites, time.time())
            answers = [f"/v1/admin/toohotornot?siteId=prof-site{site:04d}" for site in range(args.sites)]
            for name, paths in (("answer", answers), ("livez", ["/livez"])):
                mean_us, trips = measure(client, paths, args.repeat)
                print(f"{name}: {mean_us:.0f} us/request, {trips:.2f} Redis round trips/request")
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                measure(client, answers, args.repeat)
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.profile)
                print(out.getvalue())
        finally:
            stores(app).client.close()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
