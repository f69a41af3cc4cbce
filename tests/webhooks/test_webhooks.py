"""Webhook registration, signed delivery over real HTTP, retries, dead
letters and replay (in-process delivery, real Redis, loopback receiver)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from service import create_app, keys
from service.stores import stores
from service.webhooks.delivery import deliver
from tests.webhook_receiver import Receiver

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def hook_app(settings, clean_redis):
    app = create_app(settings.replace(
        webhook_allow_private=True, webhook_max_attempts=3, webhook_retry_base=0.01, webhook_retry_max=0.05,
        webhook_timeout=1.0,
    ))
    yield app
    stores(app).client.close()


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def drain(app, rounds=200):
    """Fan out and deliver until nothing is pending (bounded)."""
    import time

    webhooks = stores(app).webhooks
    client = stores(app).client
    for _ in range(rounds):
        webhooks.fan_out("test", block_ms=1)
        webhooks.deliver_due()
        if not client.zcard(keys.WEBHOOK_DELIVERIES):
            return
        time.sleep(0.01)
    raise AssertionError("deliveries still pending")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/x", "http://192.168.0.1/x", "http://172.16.0.1/",
     "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://[fe80::1]/x", "http://0.0.0.0/",
     "http://[::ffff:127.0.0.1]/x", "http://100.64.0.1/"],
)
def test_receivers_on_internal_addresses_are_refused(client, clean_redis, url):
    answer = client.post("/v1/webhooks", json={"url": url, "secret": SECRET})
    assert answer.status_code == 422, answer.json
    assert "url" in answer.json["errors"]["json"]
    assert clean_redis.hlen(keys.WEBHOOKS) == 0


@pytest.mark.parametrize(
    "body",
    [{"url": "ftp://93.184.216.34/", "secret": SECRET}, {"url": "http://93.184.216.34/", "secret": "short"},
     {"url": "http://93.184.216.34/", "secret": SECRET, "types": ["sensor.exploded"]},
     {"url": "http://user:pw@93.184.216.34/", "secret": SECRET}, {"secret": SECRET}, {"url": "not a url", "secret": SECRET}],
)
def test_invalid_registrations_are_rejected(client, clean_redis, body):
    assert client.post("/v1/webhooks", json=body).status_code == 422
    assert clean_redis.hlen(keys.WEBHOOKS) == 0


def test_register_list_get_delete_and_secret_never_returned(client):
    created = client.post("/v1/webhooks", json={"url": "https://93.184.216.34/hook", "secret": SECRET,
                                                  "org": "acme", "types": ["sensor.offline"]})
    assert created.status_code == 201
    webhook = created.json
    assert "secret" not in webhook and webhook["types"] == ["sensor.offline"]
    assert client.get("/v1/webhooks").json["webhooks"] == [webhook]
    assert client.get(f"/v1/webhooks/{webhook['id']}").json == webhook
    assert client.delete(f"/v1/webhooks/{webhook['id']}").status_code == 204
    assert client.delete(f"/v1/webhooks/{webhook['id']}").status_code == 404
    assert client.get(f"/v1/webhooks/{webhook['id']}").status_code == 404
    assert client.get("/v1/webhooks/nope").status_code == 404


def test_event_is_delivered_signed_with_its_id_as_idempotency_key(hook_app, receiver):
    client = hook_app.test_client()
    client.post("/v1/webhooks", json={"url": receiver.url, "secret": SECRET})
    stream_id = stores(hook_app).events.publish("sensor.offline", "s-1", data={"sensor": "s-1"}, event_id="ev-1")
    drain(hook_app)
    (request,) = receiver.requests
    body = request["body"]
    assert json.loads(body)["id"] == "ev-1" and json.loads(body)["sensor"] == "s-1"
    assert request["headers"]["Idempotency-Key"] == "ev-1"
    assert request["headers"]["Content-Type"] == "application/json"
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert request["headers"]["X-Sensorhub-Signature"] == expected
    assert stream_id


def test_webhooks_receive_only_their_org_and_types(hook_app, receiver):
    client = hook_app.test_client()
    client.post("/v1/webhooks", json={"url": receiver.url + "?w=acme", "secret": SECRET, "org": "acme"})
    client.post("/v1/webhooks", json={"url": receiver.url + "?w=online", "secret": SECRET, "types": ["sensor.online"]})
    events = stores(hook_app).events
    events.publish("sensor.offline", "a", org="acme", event_id="e1")
    events.publish("sensor.online", "b", org="beta", event_id="e2")
    events.publish("sensor.offline", "c", org="beta", event_id="e3")
    drain(hook_app)
    got = sorted((r["path"].split("=")[1], r["headers"]["Idempotency-Key"]) for r in receiver.requests)
    assert got == [("acme", "e1"), ("online", "e2")]


def test_failing_webhook_retries_then_dead_letters_then_replays(hook_app, receiver):
    client = hook_app.test_client()
    webhook = client.post("/v1/webhooks", json={"url": receiver.url, "secret": SECRET}).json
    receiver.statuses = [500, 503, 502]  # WEBHOOK_MAX_ATTEMPTS = 3
    stream_id = stores(hook_app).events.publish("sensor.offline", "s-9", event_id="ev-9")
    drain(hook_app)
    assert len(receiver.requests) == 3
    (dead,) = client.get("/v1/webhooks/dead-letters").json["dead_letters"]
    assert dead["id"] == f"{webhook['id']}:{stream_id}"
    assert (dead["attempts"], dead["last_error"], dead["event_id"]) == (3, "HTTP 502", "ev-9")

    assert client.post(f"/v1/webhooks/dead-letters/{dead['id']}/replay").status_code == 202
    assert client.get("/v1/webhooks/dead-letters").json["dead_letters"] == []
    drain(hook_app)
    assert len(receiver.requests) == 4
    assert set(receiver.keys()) == {"ev-9"}
    assert client.post(f"/v1/webhooks/dead-letters/{dead['id']}/replay").status_code == 404


def test_retries_back_off_exponentially_up_to_the_cap(settings, clean_redis, receiver):
    import time

    app = create_app(settings.replace(webhook_allow_private=True, webhook_max_attempts=5, webhook_retry_base=10.0,
                                      webhook_retry_max=25.0, webhook_timeout=1.0))
    app.test_client().post("/v1/webhooks", json={"url": receiver.url, "secret": SECRET})
    receiver.statuses = [500, 500, 500]
    stores(app).events.publish("sensor.offline", "s-2", event_id="ev-2")
    webhooks = stores(app).webhooks
    webhooks.fan_out("test", block_ms=1)
    due = time.time()
    for expected_wait in (10.0, 20.0, 25.0):
        before = time.time()
        ((member, state),) = webhooks.deliver_due(now=due)
        after = time.time()
        assert state == "retry"
        due = clean_redis.zscore(keys.WEBHOOK_DELIVERIES, member)
        assert before + expected_wait <= due <= after + expected_wait
    assert webhooks.deliver_due(now=due - 1) == []
    stores(app).client.close()


def test_delivery_refuses_internal_addresses_unless_allowed(receiver):
    error = deliver(receiver.url, SECRET, "e", "sensor.offline", b"{}", timeout=1.0, allow_private=False)
    assert error and "private" in error
    assert receiver.requests == []
    assert deliver(receiver.url, SECRET, "e", "sensor.offline", b"{}", timeout=1.0, allow_private=True) is None


def test_deleted_webhook_drops_its_pending_deliveries(hook_app, receiver, clean_redis):
    client = hook_app.test_client()
    webhook = client.post("/v1/webhooks", json={"url": receiver.url, "secret": SECRET}).json
    stores(hook_app).events.publish("sensor.offline", "s-3", event_id="ev-3")
    stores(hook_app).webhooks.fan_out("test", block_ms=1)
    client.delete(f"/v1/webhooks/{webhook['id']}")
    drain(hook_app)
    assert receiver.requests == []


def dead_letter_of(app, receiver, event_id: str, org: str = "acme") -> tuple[dict, dict]:
    """A webhook of ``org`` to the receiver and its dead letter of one event
    of that org (the receiver fails every attempt): (webhook, dead letter)."""
    client = app.test_client()
    webhook = client.post("/v1/webhooks", json={"url": receiver.url, "secret": SECRET, "org": org}).json
    receiver.statuses += [500, 500, 500]  # WEBHOOK_MAX_ATTEMPTS = 3
    stores(app).events.publish("sensor.offline", event_id, org=org, event_id=event_id)
    drain(app)
    (dead,) = [d for d in client.get("/v1/webhooks/dead-letters").json["dead_letters"] if d["event_id"] == event_id]
    return webhook, dead


def test_a_replay_answers_the_dead_letter_and_the_webhook_it_is_queued_for(hook_app, receiver):
    client = hook_app.test_client()
    webhook, dead = dead_letter_of(hook_app, receiver, "ev-replayed")
    replayed = client.post(f"/v1/webhooks/dead-letters/{dead['id']}/replay")
    assert replayed.status_code == 202
    answer = replayed.json
    assert (answer["id"], answer["webhook"], answer["event_id"]) == (dead["id"], webhook["id"], "ev-replayed")
    assert answer["queued_at"].endswith("Z")
    schema = client.get("/openapi.json").json["paths"]["/v1/webhooks/dead-letters/{dead_letter_id}/replay"]["post"]
    assert {"id", "webhook", "event_id", "queued_at"} <= set(
        _resolved(client, schema["responses"]["202"]["content"]["application/json"]["schema"])["properties"])
    assert "410" in schema["responses"]


def _resolved(client, schema: dict) -> dict:
    if "$ref" in schema:
        return client.get("/openapi.json").json["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_deleting_a_webhook_deletes_its_dead_letters_and_no_others(hook_app, receiver):
    client = hook_app.test_client()
    deleted, _ = dead_letter_of(hook_app, receiver, "ev-of-deleted", org="gone")
    kept, kept_dead = dead_letter_of(hook_app, receiver, "ev-of-kept", org="kept")
    assert len(client.get("/v1/webhooks/dead-letters").json["dead_letters"]) == 2
    assert client.delete(f"/v1/webhooks/{deleted['id']}").status_code == 204
    assert client.get("/v1/webhooks/dead-letters").json["dead_letters"] == [{**kept_dead, "webhook_deleted": False}]
    client_redis = stores(hook_app).client
    assert all(not member.startswith(deleted["id"].encode()) for member in client_redis.hkeys(keys.WEBHOOK_DEAD))
    assert kept["id"] == kept_dead["webhook"]


def test_a_dead_letter_whose_webhook_is_gone_is_listed_as_such_refused_for_replay_and_discarded_on_request(
    hook_app, receiver, clean_redis
):
    client = hook_app.test_client()
    webhook, dead = dead_letter_of(hook_app, receiver, "ev-orphan")
    # Gone without its dead letters: deleted before deletion swept them, or
    # by a process that died between the two.
    clean_redis.hdel(keys.WEBHOOKS, webhook["id"])
    (listed,) = client.get("/v1/webhooks/dead-letters").json["dead_letters"]
    assert listed == {**dead, "webhook_deleted": True}

    refused = client.post(f"/v1/webhooks/dead-letters/{dead['id']}/replay")
    assert refused.status_code == 410
    assert webhook["id"] in refused.json["message"] and "deleted" in refused.json["message"]
    assert "kept" in refused.json["message"] and "DELETE" in refused.json["message"]
    assert client.get("/v1/webhooks/dead-letters").json["dead_letters"] == [listed]  # kept
    assert not clean_redis.zcard(keys.WEBHOOK_DELIVERIES)
    requests_before = len(receiver.requests)
    drain(hook_app)
    assert len(receiver.requests) == requests_before

    assert client.delete(f"/v1/webhooks/dead-letters/{dead['id']}").status_code == 204
    assert client.get("/v1/webhooks/dead-letters").json["dead_letters"] == []
    assert not clean_redis.exists(keys.WEBHOOK_DEAD, keys.WEBHOOK_DEAD_INDEX)
    assert client.delete(f"/v1/webhooks/dead-letters/{dead['id']}").status_code == 404
    assert client.post(f"/v1/webhooks/dead-letters/{dead['id']}/replay").status_code == 404


def test_a_dead_letter_of_a_live_webhook_can_be_discarded(hook_app, receiver):
    client = hook_app.test_client()
    _, dead = dead_letter_of(hook_app, receiver, "ev-discarded")
    assert client.delete(f"/v1/webhooks/dead-letters/{dead['id']}").status_code == 204
    assert client.get("/v1/webhooks/dead-letters").json["dead_letters"] == []
    assert client.delete("/v1/webhooks/dead-letters/not-an-id").status_code == 404


def test_a_delivery_failing_after_its_webhook_was_deleted_is_dropped_not_dead_lettered(settings, clean_redis, receiver):
    import threading

    app = create_app(settings.replace(webhook_allow_private=True, webhook_max_attempts=1, webhook_timeout=2.0))
    client = app.test_client()
    webhook = client.post("/v1/webhooks", json={"url": receiver.url, "secret": SECRET}).json
    receiver.hang_first, receiver.statuses = 0.3, [500]
    stores(app).events.publish("sensor.offline", "s-4", event_id="ev-4")
    webhooks = stores(app).webhooks
    webhooks.fan_out("test", block_ms=1)
    (lease,) = webhooks.lease_due()
    outcome = []
    attempt = threading.Thread(target=lambda: outcome.append(webhooks.attempt(lease)))
    attempt.start()
    assert receiver.arrived.wait(2)
    assert client.delete(f"/v1/webhooks/{webhook['id']}").status_code == 204  # while the receiver is failing it
    attempt.join(5)
    assert outcome == ["dropped"]
    assert client.get("/v1/webhooks/dead-letters").json["dead_letters"] == []
    assert not clean_redis.exists(keys.WEBHOOK_DEAD, keys.WEBHOOK_DELIVERIES, keys.WEBHOOK_ATTEMPTS,
                                  keys.webhook_circuit(webhook["id"]), keys.webhook_queue(webhook["id"]))
    stores(app).client.close()
