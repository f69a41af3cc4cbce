"""Fair webhook delivery: a receiver that never answers delays only its own
deliveries (a worker running in-process against the real Redis, real HTTP
receivers on loopback)."""

from __future__ import annotations

import threading
import time

import pytest

from service import keys
from service.worker import Worker
from tests.webhook_receiver import Receiver, SilentReceiver

SECRET = "s3cret-s3cret-s3cret"
EVENTS = 40


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker_settings(settings, clean_redis):
    # The case at a 1 s timeout: 40 deliveries to a silent receiver
    # take 40 s one after the other.
    return settings.replace(webhook_allow_private=True, webhook_timeout=1.0, webhook_retry_base=0.05,
                            webhook_retry_max=0.5, offline_check_interval=60.0)


@pytest.fixture
def running_worker(worker_settings):
    worker = Worker(worker_settings)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield worker
    worker.stop.set()
    thread.join(10)
    worker.app.extensions["redis"].close()


def publish(app, org: str, count: int) -> None:
    events = app.extensions["events"]
    for n in range(count):
        events.publish("sensor.offline", f"{org}-{n}", org=org, event_id=f"{org}-ev-{n}")


def test_a_receiver_that_never_answers_does_not_delay_another_orgs_deliveries(running_worker, clean_redis):
    app = running_worker.app
    client = app.test_client()
    with Receiver() as healthy, SilentReceiver() as silent:
        client.post("/v1/webhooks", json={"url": silent.url, "secret": SECRET, "org": "stuck"})
        client.post("/v1/webhooks", json={"url": healthy.url, "secret": SECRET, "org": "fine"})
        # The silent receiver's deliveries are due first, as in the issue.
        publish(app, "stuck", EVENTS)
        wait_for(lambda: clean_redis.zcard(keys.WEBHOOK_DELIVERIES) >= EVENTS, 10, "the stuck org's deliveries")
        started = time.monotonic()
        publish(app, "fine", EVENTS)
        # Alone, 40 deliveries to a loopback receiver take well under a
        # second; sequential delivery behind the silent receiver takes at
        # least 20 of its 1 s timeouts (its first lease of 20).
        wait_for(lambda: len(healthy.requests) >= EVENTS, 8, "the healthy receiver's 40 events")
        elapsed = time.monotonic() - started
    assert sorted(healthy.keys()) == sorted(f"fine-ev-{n}" for n in range(EVENTS))
    assert elapsed < 8
