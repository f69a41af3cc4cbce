"""Slow-body bench: probes and reads beside hundreds of slow uploads.

Opens ``--slow`` connections (default 500) from this address that each
announce a body (``POST /data``, Content-Length 100,000) and then send one
byte a second, more than the instance has connection slots (2 workers x
GUNICORN_WORKER_CONNECTIONS). Meanwhile it times GET /livez, GET /healthz
and a keyed read (GET /statistics/<sensor> with an API key) one after the
other, and reports each one's latency with and without the slow uploads
in the same run, their ratio, and how many slow uploads the server was
still receiving (the rest were refused with 429 at once).

    python bench/slow_bodies.py --spawn
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KEY = "bench-slow-bodies-admin-key-0123456789"
PATHS = ("/livez", "/healthz", "/statistics/bench-sensor")


def spawn():
    import json

    from tests.servers import GunicornServer

    data_dir = Path(__import__("tempfile").mkdtemp(prefix="sensorhub-bench-"))
    server = GunicornServer(
        {"DATA_DIR": str(data_dir), "WORKER": "0", "LOG_REQUESTS": "0", "API_KEYS": json.dumps({KEY: {"role": "admin", "org": "*"}})},
        workers=2, log_path=data_dir / "gunicorn.log",
    )
    server.env.pop("REDIS_URL", None)
    return server.start()


def latencies(url: str, rounds: int) -> dict[str, list[float]]:
    seen = {path: [] for path in PATHS}
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {KEY}"
        for _ in range(rounds):
            for path in PATHS:
                started = time.perf_counter()
                session.get(url + path, timeout=30)
                seen[path].append((time.perf_counter() - started) * 1000)
    return seen


def held(senders: list[socket.socket]) -> int:
    count = 0
    for sock in senders:
        sock.setblocking(False)
        try:
            sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawn", action="store_true", help="start gunicorn (2 workers) with an embedded Redis")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running sensorhub whose API_KEYS has the bench key")
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    server = spawn() if args.spawn else None
    url = server.url if server else args.url
    host, port = url.rsplit("/", 1)[-1].split(":")
    senders: list[socket.socket] = []
    stop = threading.Event()
    try:
        requests.post(f"{url}/data", json=[{"sensor": "bench-sensor", "timestamp": "2024-01-01T00:00:00Z", "value": 1}],
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=10).raise_for_status()
        quiet = latencies(url, args.rounds)
        for _ in range(args.slow):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 100000\r\n\r\n[")
            senders.append(sock)

        def trickle():
            while not stop.wait(1.0):
                for sock in senders:
                    try:
                        sock.send(b" ")
                    except OSError:
                        pass

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(1.0)
        loaded = latencies(url, args.rounds)
        still = held(senders)
        print(f"{args.slow} slow uploads opened; still being received after the measurement: {still}")
        print(f"{'route':<28}{'quiet p50 ms':>14}{'slow p50 ms':>14}{'slow max ms':>14}{'ratio p50':>11}")
        for path in PATHS:
            q, s = statistics.median(quiet[path]), statistics.median(loaded[path])
            print(f"{path:<28}{q:>14.2f}{s:>14.2f}{max(loaded[path]):>14.2f}{s / q:>11.2f}")
    finally:
        stop.set()
        for sock in senders:
            sock.close()
        if server:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
