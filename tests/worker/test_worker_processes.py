"""Real `python -m service.worker` processes against the test Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service import create_app, keys
from service.stores import stores
from tests.servers import wait_for
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def start_worker(redis_url: str, cluster: bool, **env) -> subprocess.Popen:
    environment = {
        **os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if cluster else "0",
        "OFFLINE_AFTER": "1", "OFFLINE_CHECK_INTERVAL": "0.1", "WEBHOOK_ALLOW_PRIVATE": "1",
        "WEBHOOK_TIMEOUT": "1", "WEBHOOK_RETRY_BASE": "0.05", "LOG_LEVEL": "WARNING", "WORKER_PORT": "0", **env,
    }
    return subprocess.Popen([sys.executable, "-m", "service.worker"], cwd=ROOT, env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()




def events(redis_client) -> list[tuple[str, str]]:
    return [(f[b"type"].decode(), f[b"subject"].decode()) for _, f in redis_client.xrange(keys.EVENTS_STREAM)]


@pytest.fixture
def worker_app(settings, clean_redis):
    app = create_app(settings.replace(offline_after=1.0))
    yield app
    stores(app).client.close()


def test_three_racing_workers_report_each_silence_exactly_once(worker_app, redis_url, redis_cluster_mode, clean_redis):
    macs = [f"02:00:00:00:02:{n:02x}" for n in range(20)]
    workers = [start_worker(redis_url, redis_cluster_mode) for _ in range(3)]
    try:
        client = worker_app.test_client()
        for mac in macs:
            assert client.post("/heartbeat", json={"mac_address": mac}).status_code == 200
        wait_for(lambda: len(events(clean_redis)) >= 20, 15, "20 offline events")
        for mac in macs[:5]:
            client.post("/heartbeat", json={"mac_address": mac})
        # Back online (published by the heartbeat), then silent once more.
        wait_for(lambda: len(events(clean_redis)) >= 30, 15, "5 online and 5 more offline events")
        time.sleep(1.0)  # more passes by all three workers: nothing new may appear
        assert all(w.poll() is None for w in workers)
    finally:
        for worker in workers:
            stop(worker)
    seen = events(clean_redis)
    assert sorted(seen) == sorted(
        [("sensor.offline", m) for m in macs] + [("sensor.online", m) for m in macs[:5]]
        + [("sensor.offline", m) for m in macs[:5]]
    )


def test_worker_killed_mid_delivery_the_event_is_still_delivered_with_the_same_key(
    worker_app, redis_url, redis_cluster_mode, clean_redis
):
    with Receiver() as receiver:
        receiver.hang_first = 3.0  # the first delivery is in flight when its worker dies
        app = create_app(stores(worker_app).settings.replace(webhook_allow_private=True))
        app.test_client().post("/v1/webhooks", json={"url": receiver.url, "secret": "s" * 16})
        first = start_worker(redis_url, redis_cluster_mode)
        second = None
        try:
            stores(app).events.publish("sensor.offline", "s-1", event_id="ev-killed")
            wait_for(receiver.arrived.is_set, 10, "the first delivery attempt")
            first.kill()  # SIGKILL: no cleanup at all
            first.wait(5)
            second = start_worker(redis_url, redis_cluster_mode)
            wait_for(lambda: len(receiver.requests) >= 2 and not clean_redis.zcard(keys.WEBHOOK_DELIVERIES), 20,
                     "redelivery by the second worker")
        finally:
            stop(first)
            if second is not None:
                stop(second)
            stores(app).client.close()
    assert set(receiver.keys()) == {"ev-killed"}
    assert clean_redis.hlen(keys.WEBHOOK_DEAD) == 0


def test_worker_stops_cleanly_on_sigterm(redis_url, redis_cluster_mode, clean_redis):
    worker = start_worker(redis_url, redis_cluster_mode)
    # Running once its loops have created the event stream's consumer group.
    wait_for(lambda: clean_redis.exists(keys.EVENTS_STREAM), 20, "the worker to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0, worker.stderr.read().decode()
