"""A mosquitto broker for the session (Debian's, on a free loopback port),
bridges as `python -m service.mqtt` processes, and a subscriber/publisher
for the tests."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import orjson
import pytest
import requests
from paho.mqtt.client import Client, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion

from service.embedded_redis import free_port
from tests.servers import wait_for

ROOT = Path(__file__).resolve().parents[2]




def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def mosquitto_url(tmp_path_factory):
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(binary, os.X_OK):
        pytest.fail("mosquitto is missing: apt-get install mosquitto (.ci/run installs it)")
    port = free_port()
    directory = tmp_path_factory.mktemp("mosquitto")
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        # Messages waiting for a bridge that is down (or busy) are kept, not dropped.
        "max_queued_messages 1000000\n"
        f"log_dest file {directory / 'mosquitto.log'}\n"
    )
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: process.poll() is not None or _listening(port), 10, "mosquitto to listen")
        assert process.poll() is None, (directory / "mosquitto.log").read_text()
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


class Bridge:
    """`python -m service.mqtt` as a child process, with its metrics port."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.metrics_port = free_port()
        self.env = {**os.environ, **env, "MQTT_METRICS_PORT": str(self.metrics_port), "LOG_LEVEL": "INFO"}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Bridge:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "service.mqtt"], cwd=ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.process.poll() is not None or b"mqtt connected" in self.log_path.read_bytes(),
                 20, "the bridge to connect")
        assert self.process.poll() is None, self.log_path.read_text()
        return self

    def metric(self, name: str, **labels) -> float:
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
        wanted = f"{name}{{{selector}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[1])
        return 0.0

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def topics() -> dict[str, str]:
    """Topics of this test alone: the broker lives for the whole session."""
    root = f"test-{uuid.uuid4().hex[:8]}"
    return {"root": root, "filter": f"{root}/+", "dead_letter": f"{root}/dead-letter"}


@pytest.fixture
def start_bridge(mosquitto_url, redis_url, redis_cluster_mode, topics, tmp_path):
    started: list[Bridge] = []

    def start(**env) -> Bridge:
        environment = {
            "REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0",
            "MQTT_URL": mosquitto_url, "MQTT_TOPICS": topics["filter"],
            "MQTT_DEAD_LETTER_TOPIC": topics["dead_letter"], "MQTT_CLIENT_ID": f"bridge-{topics['root']}",
            **env,
        }
        bridge = Bridge(environment, tmp_path / "bridge.log").start()
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


class Peer:
    """A plain MQTT 5 client: publishes with QoS 1 and keeps what its
    subscriptions receive."""

    def __init__(self, url: str):
        host, port = url.removeprefix("mqtt://").split(":")
        self.received: queue.SimpleQueue = queue.SimpleQueue()
        self.client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv5)
        self.client.on_message = lambda client, userdata, message: self.received.put((message.topic, message.payload))
        self.client.connect(host, int(port))
        self.client.loop_start()

    def subscribe(self, topic: str) -> None:
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(5), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload) -> None:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self.client.publish(topic, body, qos=1).wait_for_publish(5)

    def next_message(self, timeout: float = 10.0) -> tuple[str, dict]:
        topic, payload = self.received.get(timeout=timeout)
        return topic, orjson.loads(payload)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def peer(mosquitto_url):
    client = Peer(mosquitto_url)
    yield client
    client.close()
