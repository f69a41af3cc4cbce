"""Fair webhook delivery: a receiver that never answers delays only its own
deliveries (a worker running in-process against the real Redis, real HTTP
receivers on loopback)."""

from __future__ import annotations

import threading
import time

import pytest

from service import keys
from service.stores import stores
from service.webhooks.store import Replay
from service.worker import Worker
from tests.servers import wait_for
from tests.webhook_receiver import Receiver, SilentReceiver

SECRET = "s3cret-s3cret-s3cret"
EVENTS = 40




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
    thread.join(20)
    assert not thread.is_alive(), "the worker did not stop: its loops would go on reading the next tests' events"
    stores(worker.app).client.close()


def publish(app, org: str, count: int) -> None:
    events = stores(app).events
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
        # (A generous bound: the machine may be loaded.)
        wait_for(lambda: len(healthy.requests) >= EVENTS, 12, "the healthy receiver's 40 events")
        elapsed = time.monotonic() - started
    assert sorted(healthy.keys()) == sorted(f"fine-ev-{n}" for n in range(EVENTS))  # each once
    assert elapsed < 12


@pytest.fixture
def make_app(make_app):
    def make(**overrides):
        return make_app(webhook_allow_private=True, webhook_timeout=1.0, **overrides)

    return make


def register(app, url: str, org: str | None = None) -> str:
    return app.test_client().post("/v1/webhooks", json={"url": url, "secret": SECRET, "org": org}).json["id"]


def test_one_webhook_has_at_most_its_bound_in_flight_until_a_delivery_settles_or_its_lease_runs_out(
    make_app, clean_redis
):
    app = make_app(webhook_endpoint_concurrency=2)
    webhooks = stores(app).webhooks
    with Receiver() as first, Receiver() as second:
        one, two = register(app, first.url), register(app, second.url)
        publish(app, "acme", 5)
        webhooks.fan_out("test", block_ms=1)
        leases = webhooks.lease_due(limit=20)
        assert sorted(lease.member.split(":")[0] for lease in leases) == sorted([one, one, two, two])
        assert webhooks.lease_due(limit=20) == []  # both at their bound
        assert webhooks.attempt(leases[0]) == "delivered"
        (freed,) = webhooks.lease_due(limit=20)
        assert freed.member.split(":")[0] == leases[0].member.split(":")[0]
        # A worker that died holds its slots only until its leases run out.
        later = time.time() + webhooks.lease_seconds + 1
        assert len(webhooks.lease_due(limit=20, now=later)) == 4
        assert clean_redis.zcard(keys.webhook_inflight(one)) == 2


def test_a_webhooks_backlog_never_hides_another_webhooks_deliveries_and_older_pending_ones_are_adopted(
    make_app, clean_redis
):
    app = make_app()
    webhooks = stores(app).webhooks
    with Receiver() as first, Receiver() as second:
        busy, other = register(app, first.url), register(app, second.url)
        # 5,000 deliveries to one webhook, due first, pending since before
        # deliveries were queued by webhook (in {events}:deliveries only).
        early = time.time() - 60
        clean_redis.zadd(keys.WEBHOOK_DELIVERIES, {f"{busy}:{10**12 + n}-0": early + n / 1000 for n in range(5000)})
        assert webhooks.adopt_pending() == 5000
        assert webhooks.adopt_pending() == 0
        publish(app, "acme", 3)
        webhooks.fan_out("test", block_ms=1)
        leases = webhooks.lease_due(limit=20)
        leased = [lease.member.split(":")[0] for lease in leases]
        assert sorted(leased) == sorted([busy] * 4 + [other] * 3)
        assert webhooks.lease_due(limit=20) == []
        # {events}:deliveries is the truth: a queue entry it contradicts
        # (another worker version leased the delivery) is not leased.
        assert webhooks.attempt(next(lease for lease in leases if lease.member.startswith(busy))) == "retry"
        member = clean_redis.zrange(keys.webhook_queue(busy), 0, 0)[0]
        clean_redis.zadd(keys.WEBHOOK_DELIVERIES, {member: time.time() + 60})
        (lease,) = webhooks.lease_due(limit=20)
        assert lease.member.encode() != member
        assert clean_redis.zscore(keys.webhook_queue(busy), member) == clean_redis.zscore(keys.WEBHOOK_DELIVERIES, member)


def test_circuit_opens_after_consecutive_failures_holds_deliveries_back_then_one_trial_closes_it(
    make_app, clean_redis
):
    # Retries 0.01 s apart at first: the deliveries are far from their age (5 s).
    app = make_app(webhook_circuit_failures=3, webhook_circuit_cooldown=0.3, webhook_max_attempts=10,
                   webhook_retry_base=0.01, webhook_retry_max=10.0)
    webhooks = stores(app).webhooks
    with Receiver() as receiver:
        webhook = register(app, receiver.url)
        receiver.statuses = [500, 500, 500, 503]
        publish(app, "acme", 3)
        webhooks.fan_out("test", block_ms=1)
        assert [state for _, state in webhooks.deliver_due()] == ["retry"] * 3
        circuit = webhooks.circuit(webhook)
        assert (circuit["state"], circuit["failures"], circuit["error"]) == ("open", 3, "HTTP 500")

        # Open: due deliveries wait for the cool-down, neither attempted nor counted.
        publish(app, "beta", 2)
        webhooks.fan_out("test", block_ms=1)
        time.sleep(0.02)
        assert webhooks.deliver_due() == []
        assert len(receiver.requests) == 3
        assert [int(n) for n in clean_redis.hvals(keys.WEBHOOK_ATTEMPTS)] == [1, 1, 1]
        held = clean_redis.zrange(keys.WEBHOOK_DELIVERIES, 0, -1, withscores=True)
        assert len(held) == 5 and all(score == pytest.approx(circuit["open_until"]) for _, score in held)

        # Half-open: one trial at a time; it fails (503), the circuit opens again.
        time.sleep(0.3)
        assert webhooks.circuit(webhook)["state"] == "half-open"
        assert [state for _, state in webhooks.deliver_due()] == ["retry"]
        assert webhooks.circuit(webhook)["state"] == "open"
        assert webhooks.deliver_due() == []

        # The next trial succeeds: closed, and everything else is delivered once.
        time.sleep(0.3)
        assert [state for _, state in webhooks.deliver_due()] == ["delivered"]
        assert webhooks.circuit(webhook) == {"state": "closed", "failures": 0, "open_until": None, "error": None}
        for _ in range(3):
            webhooks.deliver_due()
    assert not clean_redis.zcard(keys.WEBHOOK_DELIVERIES)
    assert not clean_redis.exists(keys.webhook_inflight(webhook), keys.WEBHOOK_ATTEMPTS, keys.WEBHOOK_SINCE,
                                  keys.webhook_queue(webhook), keys.WEBHOOK_READY)
    delivered = receiver.keys()[4:]
    assert sorted(delivered) == sorted(["acme-ev-0", "acme-ev-1", "acme-ev-2", "beta-ev-0", "beta-ev-1"])


def test_deliveries_held_back_by_an_open_circuit_become_dead_letters_once_older_than_their_retries(
    make_app, clean_redis
):
    # Three attempts 0.01 s and 0.02 s apart: a delivery gives up 0.03 s after it became pending.
    app = make_app(webhook_circuit_failures=1, webhook_circuit_cooldown=60.0, webhook_max_attempts=3,
                   webhook_retry_base=0.01, webhook_retry_max=0.05)
    webhooks = stores(app).webhooks
    with Receiver() as receiver:
        webhook = register(app, receiver.url, org="acme")
        receiver.statuses = [500]
        publish(app, "acme", 1)
        webhooks.fan_out("test", block_ms=1)
        assert [state for _, state in webhooks.deliver_due()] == ["retry"]
        publish(app, "acme", 3)  # ev-0 again (idempotent) and two new ones
        webhooks.fan_out("test", block_ms=1)
        time.sleep(0.05)
        assert sorted(state for _, state in webhooks.deliver_due()) == ["dead"] * 3
        assert len(receiver.requests) == 1
    dead = {d["event_id"]: d for d in webhooks.dead_letters(org="acme")}
    assert sorted(dead) == ["acme-ev-0", "acme-ev-1", "acme-ev-2"]
    assert [dead[e]["attempts"] for e in sorted(dead)] == [1, 0, 0]
    assert all("circuit open" in d["last_error"] and "HTTP 500" in d["last_error"] for d in dead.values())
    assert not clean_redis.exists(keys.WEBHOOK_SINCE, keys.WEBHOOK_ATTEMPTS)

    # A replayed one gets a new age: it waits for the cool-down again.
    assert webhooks.replay(dead["acme-ev-1"]["id"]) is Replay.QUEUED
    assert webhooks.deliver_due() == []
    score = clean_redis.zscore(keys.WEBHOOK_DELIVERIES, dead["acme-ev-1"]["id"])
    assert score == pytest.approx(webhooks.circuit(webhook)["open_until"])


def test_delivery_latency_by_webhook_outcomes_and_circuit_state_are_in_metrics(make_app):
    app = make_app(webhook_circuit_failures=1, webhook_circuit_cooldown=60.0)
    webhooks = stores(app).webhooks
    with Receiver() as healthy, Receiver() as failing:
        fine, broken = register(app, healthy.url), register(app, failing.url + "?token=do-not-leak")
        failing.statuses = [500]
        publish(app, "acme", 1)
        webhooks.fan_out("test", block_ms=1)
        webhooks.deliver_due()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert f'sensorhub_webhook_delivery_seconds_count{{webhook="{fine}"}}' in text
    assert f'sensorhub_webhook_delivery_seconds_count{{webhook="{broken}"}}' in text
    assert 'sensorhub_webhook_deliveries_total{outcome="delivered"}' in text
    assert 'sensorhub_webhook_deliveries_total{outcome="retry"}' in text
    assert f'sensorhub_webhook_circuit_open{{webhook="{broken}"}} 1.0' in text
    assert f'sensorhub_webhook_circuit_open{{webhook="{fine}"}} 0.0' in text
    assert "do-not-leak" not in text and "127.0.0.1" not in text
