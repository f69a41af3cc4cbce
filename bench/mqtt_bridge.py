"""MQTT bridge benchmark: readings/s through mosquitto into Redis, and the
latency from publish to GET /statistics seeing the reading, each beside
POST /data in the same run.

Starts what `make run` starts (gunicorn, 2 workers, embedded Redis), Debian's
mosquitto on a free loopback port and `python -m service.mqtt`, then, ROUNDS
times alternating the order:
- throughput: MESSAGES messages of one reading each on sensorhub/<sensor>
  (an ESP32's shape), and the same readings as sensorhub/data batches of
  BATCH, published with QoS 1 as fast as the publisher can; timed from the
  first publish until the bridge counted them all (its /metrics). Baseline:
  the same batches as POST /data over 4 keep-alive connections.
- latency: SAMPLES readings, one every 50 ms, each on its own sensor; the
  time from publish (or from sending POST /data, the baseline) until
  GET /statistics/<sensor> answers it, polled every 2 ms.

    python bench/mqtt_bridge.py                 # defaults: 3 rounds, each part well under 30 s
    python bench/mqtt_bridge.py --messages 5000 --rounds 1
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import SpawnedService  # noqa: E402
from service.embedded_redis import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Readings of the last hour, as live sensors send them (older ones take the
# history tiers' backlog path, another cost).
STAMP0 = int(time.time()) // 60 * 60 - 3600


def stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(STAMP0 + seconds))


def start_mosquitto(directory: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                      "max_queued_messages 10000000\n")
    process = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return process, port


def start_bridge(redis_url: str, mqtt_port: int, metrics_port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "REDIS_URL": redis_url, "MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
           "MQTT_METRICS_PORT": str(metrics_port), "LOG_LEVEL": "INFO"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([sys.executable, "-m", "service.mqtt"], cwd=ROOT, env=env,
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while b"mqtt connected" not in log.read_bytes():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the bridge did not connect: {log.read_text()}")
        time.sleep(0.05)
    return process


class Publisher:
    def __init__(self, port: int):
        from paho.mqtt.client import Client, MQTTv5
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes):
        return self.client.publish(topic, payload, qos=1)


def counted(metrics_port: int) -> float:
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    return sum(float(line.split()[1]) for line in text.splitlines()
               if line.startswith(("sensorhub_readings_total{outcome=\"accepted\"}",
                                   "sensorhub_readings_total{outcome=\"duplicate\"}")))


def wait_counted(metrics_port: int, target: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while counted(metrics_port) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the bridge counted {counted(metrics_port)} of {target} readings")
        time.sleep(0.02)


def mqtt_throughput(publisher: Publisher, metrics_port: int, messages: list[tuple[str, bytes]], readings: int) -> float:
    before = counted(metrics_port)
    started = time.perf_counter()
    for topic, payload in messages:
        publisher.publish(topic, payload)
    wait_counted(metrics_port, before + readings)
    return readings / (time.perf_counter() - started)


def post_throughput(url: str, bodies: list[bytes], readings: int, connections: int = 4) -> float:
    host, port = url.removeprefix("http://").split(":")
    chunks = [bodies[n::connections] for n in range(connections)]

    def send(chunk):
        connection = http.client.HTTPConnection(host, int(port))
        for body in chunk:
            connection.request("POST", "/data", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200, answer.status
        connection.close()

    threads = [threading.Thread(target=send, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return readings / (time.perf_counter() - started)


def latencies(url: str, samples: int, send) -> list[float]:
    """ms from ``send(sensor, n)`` until GET /statistics/<sensor> counts the reading."""
    session = requests.Session()
    found = []
    for n in range(samples):
        sensor = f"lat-{time.monotonic_ns()}"
        started = time.perf_counter()
        send(sensor, n)
        while session.get(f"{url}/statistics/{sensor}", timeout=5).json()["count"] < 1:
            time.sleep(0.002)
        found.append((time.perf_counter() - started) * 1000)
        time.sleep(0.05)
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="readings per throughput run")
    parser.add_argument("--batch", type=int, default=100, help="readings per sensorhub/data message and POST /data")
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--samples", type=int, default=100, help="latency samples per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sensorhub-mqtt-bench-"))
    service = SpawnedService().start()
    mosquitto, mqtt_port = start_mosquitto(work)
    metrics_port = free_port()
    bridge = start_bridge(service.redis_url, mqtt_port, metrics_port, work / "bridge.log")
    publisher = Publisher(mqtt_port)
    host, port = service.url.removeprefix("http://").split(":")
    runs: dict[str, list[float]] = {k: [] for k in ("mqtt_single", "mqtt_batch", "post_batch", "mqtt_p50", "mqtt_p99",
                                                    "post_p50", "post_p99")}
    try:
        for round_ in range(args.rounds):
            def readings(kind: str, prefix: str = f"r{round_}") -> list[dict]:
                return [{"sensor": f"{prefix}-{kind}-{n % args.sensors}", "timestamp": stamp(n // args.sensors),
                         "value": n % 97} for n in range(args.messages)]

            single = [(f"sensorhub/{r['sensor']}", orjson.dumps({"timestamp": r["timestamp"], "value": r["value"]}))
                      for r in readings("single")]
            batched = readings("batch")
            batch_messages = [("sensorhub/data", orjson.dumps(batched[n:n + args.batch]))
                              for n in range(0, len(batched), args.batch)]
            posted = readings("post")
            bodies = [orjson.dumps(posted[n:n + args.batch]) for n in range(0, len(posted), args.batch)]

            def post_one(sensor, n):
                connection = http.client.HTTPConnection(host, int(port))
                connection.request("POST", "/data", orjson.dumps([{"sensor": sensor, "timestamp": stamp(n), "value": n}]),
                                   {"Content-Type": "application/json"})
                connection.getresponse().read()
                connection.close()

            def publish_one(sensor, n):
                publisher.publish(f"sensorhub/{sensor}", orjson.dumps({"timestamp": stamp(n), "value": n}))

            parts = [
                ("post_batch", partial(post_throughput, service.url, bodies, args.messages)),
                ("mqtt_batch", partial(mqtt_throughput, publisher, metrics_port, batch_messages, args.messages)),
                ("mqtt_single", partial(mqtt_throughput, publisher, metrics_port, single, args.messages)),
                ("post_latency", partial(latencies, service.url, args.samples, post_one)),
                ("mqtt_latency", partial(latencies, service.url, args.samples, publish_one)),
            ]
            if round_ % 2:
                parts.reverse()
            for name, part in parts:
                result = part()
                if name.endswith("_latency"):
                    kind = name.split("_")[0]
                    runs[f"{kind}_p50"].append(percentile(result, 0.5))
                    runs[f"{kind}_p99"].append(percentile(result, 0.99))
                else:
                    runs[name].append(result)
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in runs.items()), flush=True)
    finally:
        publisher.client.disconnect()
        bridge.terminate()
        bridge.wait(15)
        mosquitto.terminate()
        service.stop()
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"\nmedians of {args.rounds} rounds ({args.messages} readings, {args.sensors} sensors, "
          f"batches of {args.batch}):")
    print(f"  POST /data batches     {median['post_batch']:9.0f} readings/s   1.00")
    print(f"  MQTT sensorhub/data    {median['mqtt_batch']:9.0f} readings/s   {median['mqtt_batch'] / median['post_batch']:.2f}")
    print(f"  MQTT sensorhub/<id>    {median['mqtt_single']:9.0f} readings/s   {median['mqtt_single'] / median['post_batch']:.2f}")
    print(f"  latency to GET /statistics, POST /data: p50 {median['post_p50']:.1f} ms, p99 {median['post_p99']:.1f} ms")
    print(f"  latency to GET /statistics, MQTT:       p50 {median['mqtt_p50']:.1f} ms, p99 {median['mqtt_p99']:.1f} ms "
          f"(added: p50 {median['mqtt_p50'] - median['post_p50']:+.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
