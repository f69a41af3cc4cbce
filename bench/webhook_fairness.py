"""Fair webhook delivery: does a receiver that never answers delay another
org's notifications?

    PYTHONPATH=. .venv/bin/python bench/webhook_fairness.py [--events 40] [--runs 5] [--timeout 5]

On an embedded redis-server, a real worker (``python -m service.worker``,
default settings but WEBHOOK_TIMEOUT) delivers EVENTS events of one org to
a healthy receiver on loopback, measured from publishing the first to the
last one received; once alone, once beside another org's webhook whose
receiver never answers (its socket listens, nothing accepts), whose EVENTS
deliveries are pending first. Prints both times and their ratio (median
and best of the runs), which fair delivery keeps near 1 (the issue
measured 4 s alone, 82 s beside at a 2 s timeout).

``--root DIR`` runs the worker from another checkout (an older revision,
say), to compare.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from service import create_app, keys
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-bench-bench-bench"


class Healthy:
    """Answers every POST at once with 204; counts them."""

    def __init__(self):
        self.count = 0
        self.done = threading.Event()
        self.expected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(204)
                self.end_headers()
                receiver.count += 1
                if receiver.count >= receiver.expected:
                    receiver.done.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def silent_url() -> tuple[socket.socket, str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/hook"


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.01)


def run(redis_url: str, events: int, timeout: float, root: Path, beside_dead: bool) -> float:
    """Seconds from publishing the healthy org's first event to its last one received."""
    settings = Settings(redis_url=redis_url, log_level="ERROR", log_requests=False, webhook_allow_private=True)
    app = create_app(settings)
    client = stores(app).client
    client.flushall()
    environment = {**os.environ, "REDIS_URL": redis_url, "WEBHOOK_ALLOW_PRIVATE": "1",
                   "WEBHOOK_TIMEOUT": repr(timeout), "LOG_LEVEL": "ERROR", "OFFLINE_CHECK_INTERVAL": "60",
                   "PYTHONPATH": str(root)}
    worker = subprocess.Popen([sys.executable, "-m", "service.worker"], cwd=root, env=environment)
    healthy, listener = Healthy(), None
    try:
        api = app.test_client()
        if beside_dead:
            listener, url = silent_url()
            api.post("/v1/webhooks", json={"url": url, "secret": SECRET, "org": "stuck"})
        api.post("/v1/webhooks", json={"url": healthy.url, "secret": SECRET, "org": "fine"})
        publisher = stores(app).events
        # The worker is running once a first event has arrived (not counted).
        healthy.expected = 1
        publisher.publish("sensor.offline", "fine-warm-up", org="fine", event_id="fine-warm-up")
        if not healthy.done.wait(60):
            raise TimeoutError("the worker did not start")
        healthy.count = 0
        healthy.done.clear()
        if beside_dead:
            # The dead receiver's deliveries are pending first, as in the issue.
            for n in range(events):
                publisher.publish("sensor.offline", f"stuck-{n}", org="stuck", event_id=f"stuck-{n}")
            wait_for(lambda: client.zcard(keys.WEBHOOK_DELIVERIES) >= events, 30)
        healthy.expected = events
        started = time.perf_counter()
        for n in range(events):
            publisher.publish("sensor.offline", f"fine-{n}", org="fine", event_id=f"fine-{n}")
        if not healthy.done.wait(events * timeout * 10 + 60):
            raise TimeoutError("the healthy receiver's events did not all arrive")
        return time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        if listener is not None:
            listener.close()  # the worker's deliveries in flight to it end now
        try:
            worker.wait(2 * timeout + 10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        healthy.close()
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=5.0, help="WEBHOOK_TIMEOUT of the worker (s)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to run the worker from")
    args = parser.parse_args()
    alone, beside = [], []
    with EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-bench-"), unix_socket=False, appendonly=False) as server:
        for n in range(args.runs):
            # Alternately first: a load that drifts during the run weighs on both.
            for beside_dead in (False, True) if n % 2 == 0 else (True, False):
                times = beside if beside_dead else alone
                times.append(run(server.url, args.events, args.timeout, args.root, beside_dead=beside_dead))
            print(f"run {n + 1}: {args.events} events alone {alone[-1]:.3f} s, beside a dead receiver "
                  f"{beside[-1]:.3f} s: ratio {beside[-1] / alone[-1]:.2f}", flush=True)
    for name, pick in (("median", statistics.median), ("best", min)):
        a, b = pick(alone), pick(beside)
        print(f"{name}: alone {a:.3f} s, beside a dead receiver {b:.3f} s; ratio {b / a:.2f} "
              f"(WEBHOOK_TIMEOUT {args.timeout:g} s, {args.events} events, {args.runs} runs)")


if __name__ == "__main__":
    main()
