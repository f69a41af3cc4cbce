"""Cost of compressed answers, in process, against a private redis-server.

The same requests through the Flask app, interleaved round by round (order
rotated) so that machine noise hits every mode alike:

- series:  GET /v1/series of SENSORS sensors, a point a minute over HOURS
           hours (JSON), with Accept-Encoding identity, gzip, br and zstd;
- export:  GET /v1/export of those sensors (CSV, streamed: the body is read
           chunk by chunk, as a WSGI server would), with the same codings;
- ingest:  POST /data (its answer is tiny, below COMPRESS_MIN_BYTES) on an
           app with COMPRESS_RESPONSES=0 and one with it on, the client
           accepting gzip, br and zstd.

Each mode's figure is its best round (the least disturbed by other load):
requests/s, CPU time of this process (the app's work; Redis runs apart)
per request, bytes on the wire, each beside identity (or compression off)
measured in the same run.

    .venv/bin/python -m bench.response_compression [--rounds 7] [--sensors 10] [--hours 12]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from flask_compress.flask_compress import _compress_data

from service import create_app, timeutil
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings

MINUTE = 60_000_000
CODINGS = ("identity", "gzip", "br", "zstd")


def fill(client, sensors: int, hours: int) -> tuple[int, int]:
    """A reading a minute of each sensor over the last ``hours``; the range."""
    now = timeutil.now_us()
    end = now - now % MINUTE
    start = end - hours * 60 * MINUTE
    for sensor in range(sensors):
        readings = [{"sensor": f"bench-{sensor}", "timestamp": timeutil.us_to_iso(start + m * MINUTE),
                     "value": round(20 + sensor / 10 + (m % 97) / 13, 2)} for m in range(hours * 60)]
        for first in range(0, len(readings), 5000):
            response = client.post("/data", json=readings[first : first + 5000])
            assert response.status_code == 200, response.get_data(as_text=True)
    return start, end


def timed(client, url: str, headers: dict, times: int) -> tuple[tuple[float, float], int]:
    """(wall, CPU) seconds per request and bytes of the last answer's body
    (streamed bodies are read chunk by chunk)."""
    size = 0
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(times):
        response = client.get(url, headers=headers, buffered=False)
        assert response.status_code == 200, response.status_code
        size = sum(len(chunk) for chunk in response.response)
        response.close()
    return ((time.perf_counter() - started) / times, (time.process_time() - cpu) / times), size


def ingest(client, headers: dict, times: int, start: int) -> tuple[float, float]:
    bodies = [json.dumps([{"sensor": f"ingest-{i % 20}", "timestamp": timeutil.us_to_iso(start + (n * 100 + i) * 1000),
                           "value": 20.5} for i in range(100)]) for n in range(times)]
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        response = client.post("/data", data=body, content_type="application/json", headers=headers)
        assert response.status_code == 200 and "Content-Encoding" not in response.headers
    return (time.perf_counter() - started) / times, (time.process_time() - cpu) / times


def hook_us(app, repeat: int = 7, number: int = 20_000) -> float:
    """Microseconds flask-compress's hook takes on POST /data's answer
    (tiny: left uncompressed), best of ``repeat`` runs."""
    compress = next(hook.__self__ for hook in app.after_request_funcs[None] if hasattr(hook, "__self__"))
    body = b'{"accepted":100,"duplicates":0}'
    best = float("inf")
    with app.test_request_context("/data", method="POST", headers={"Accept-Encoding": "gzip, br, zstd"}):
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(number):
                compress.after_request(app.response_class(body, mimetype="application/json"))
            best = min(best, (time.perf_counter() - started) / number)
        response_only = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(number):
                app.response_class(body, mimetype="application/json")
            response_only = min(response_only, (time.perf_counter() - started) / number)
    return (best - response_only) * 1e6


def compress_us(app, body: bytes, coding: str, repeat: int = 5) -> float:
    """Microseconds flask-compress takes to compress ``body`` whole with
    ``coding`` at the app's levels, best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        _compress_data(app, body, coding)
        best = min(best, time.process_time() - started)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sensors", type=int, default=10)
    parser.add_argument("--hours", type=int, default=12)
    parser.add_argument("--reads", type=int, default=5, help="reads per mode per round")
    parser.add_argument("--batches", type=int, default=100, help="POST /data batches per mode per round")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedRedis(data_dir, appendonly=False)
        server.start()
        try:
            base = Settings(redis_url=server.url, log_requests=False, log_level="ERROR", series_cache_mb=0)
            client = create_app(base).test_client()
            # POST /data on two apps of their own, so that neither carries the reads' state.
            ingest_on = create_app(base).test_client()
            plain = create_app(base.replace(compress_responses=False)).test_client()
            start, end = fill(client, args.sensors, args.hours)
            for warm in (plain, ingest_on):
                ingest(warm, {"Accept-Encoding": "gzip, br, zstd"}, 20, timeutil.now_us() - 7200 * 1_000_000)
            ids = ",".join(f"bench-{i}" for i in range(args.sensors))
            span = f"start={timeutil.us_to_iso(start)}&end={timeutil.us_to_iso(end)}"
            urls = {"series": f"/v1/series?sensors={ids}&{span}&bucket=1m",
                    "export": f"/v1/export?sensors={ids}&start={start // 1_000_000}&format=csv"}
            accept_all = {"Accept-Encoding": "gzip, br, zstd"}
            reads = {(what, coding): (url, {"Accept-Encoding": coding}) for what, url in urls.items() for coding in CODINGS}
            seconds: dict = {mode: [] for mode in [*reads, ("ingest", "off"), ("ingest", "on")]}
            sizes: dict = {}
            for url, headers in reads.values():  # warm up
                timed(client, url, headers, 1)
            at = timeutil.now_us() - 3600 * 1_000_000
            order = list(seconds)
            for round_number in range(args.rounds):
                shift = round_number % len(order)
                for mode in order[shift:] + order[:shift]:
                    if mode[0] == "ingest":
                        at += args.batches * 100 * 1000
                        seconds[mode].append(ingest(plain if mode[1] == "off" else ingest_on, accept_all, args.batches, at))
                    else:
                        url, headers = reads[mode]
                        took, sizes[mode] = timed(client, url, headers, args.reads)
                        seconds[mode].append(took)
            hook = hook_us(ingest_on.application)
            alone = {(what, coding): compress_us(client.application, client.get(url).get_data(), coding)
                     for what, url in urls.items() for coding in CODINGS[1:]}
        finally:
            server.stop()

    def best(mode, which: int) -> float:
        return min(sample[which] for sample in seconds[mode])

    print(f"{args.sensors} sensors, a reading a minute over {args.hours} h; best of {args.rounds} rounds; "
          f"CPU: of this process (the app; Redis is another process)")
    print(f"{'answer':<8} {'coding':<9} {'req/s':>7} {'vs id.':>7} {'CPU ms/req':>11} {'vs id.':>7} {'bytes':>11} {'vs id.':>7}")
    for what in urls:
        identity = (what, "identity")
        for coding in CODINGS:
            mode = (what, coding)
            print(f"{what:<8} {coding:<9} {1 / best(mode, 0):>7.1f} {best(identity, 0) / best(mode, 0):>7.2f} "
                  f"{best(mode, 1) * 1e3:>11.1f} {best(mode, 1) / best(identity, 1):>7.2f} "
                  f"{sizes[mode]:>11,} {sizes[mode] / sizes[identity]:>7.3f}")
    print("compressing the identity body alone, whole (CPU ms, and share of identity's CPU per request):")
    for (what, coding), micros in alone.items():
        print(f"  {what:<7} {coding:<5} {micros / 1e3:>6.2f} ms  {micros / 1e6 / best((what, 'identity'), 1):>6.3f}")
    off, on = ("ingest", "off"), ("ingest", "on")
    print(f"POST /data (100 readings; its answer is below the minimum): {1 / best(off, 0):.0f} req/s compression off, "
          f"{1 / best(on, 0):.0f} on (ratio {best(off, 0) / best(on, 0):.3f}); CPU {best(off, 1) * 1e6:.0f} us per batch off, "
          f"{best(on, 1) * 1e6:.0f} on (ratio {best(on, 1) / best(off, 1):.3f}); the compression hook alone on its "
          f"answer: {hook:.1f} us ({hook / (best(off, 1) * 1e6) * 100:.2f} % of a batch's CPU)")

if __name__ == "__main__":
    main()
