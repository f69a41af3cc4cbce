"""Cross-org overviews (GET /sensors, dead letters) show an org key its
org's part only, and an all-orgs key everything."""

from __future__ import annotations

from service import keys
from service.stores import stores

from .authkeys import (
    ALL_ADMIN,
    ALL_READ,
    ALPHA_ADMIN,
    ALPHA_INGEST,
    ALPHA_READ,
    BETA_INGEST,
    BETA_READ,
    bearer,
    reading,
)


def listed(client, key: str, query: str = "") -> dict:
    response = client.get("/sensors" + query, headers=bearer(key))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_sensors_overview_of_an_org_key_holds_its_orgs_sensors_only(keyed):
    keyed.post("/data", json=[reading("a1"), reading("a2")], headers=bearer(ALPHA_INGEST))
    keyed.post("/heartbeat", json={"mac_address": "02:00:00:00:00:a3"}, headers=bearer(ALPHA_INGEST))
    keyed.post("/data", json=[reading("b1")], headers=bearer(BETA_INGEST))
    keyed.put("/v1/sensors/free", json={"kind": "temperature"}, headers=bearer(ALL_ADMIN))
    keyed.post("/data", json=[reading("free")], headers=bearer(ALL_ADMIN))

    alpha = listed(keyed, ALPHA_READ)
    assert {s["id"] for s in alpha["sensors"]} == {"a1", "a2", "02:00:00:00:00:a3"}
    assert alpha["total"] == 3 and {s["org"] for s in alpha["sensors"]} == {"alphacorp"}
    assert [s["id"] for s in listed(keyed, BETA_READ)["sensors"]] == ["b1"]
    everything = listed(keyed, ALL_READ)
    assert {s["id"] for s in everything["sensors"]} == {"a1", "a2", "02:00:00:00:00:a3", "b1", "free"}
    assert everything["total"] == 5
    assert [s["id"] for s in listed(keyed, ALL_READ, "?org=betacorp")["sensors"]] == ["b1"]
    assert listed(keyed, ALPHA_READ, "?org=alphacorp")["total"] == 3
    assert keyed.get("/sensors?org=betacorp", headers=bearer(ALPHA_READ)).status_code == 404


def test_org_overview_pages_most_recently_heard_first_and_skips_stale_index_entries(keyed, redis_client):
    for n in range(5):
        keyed.post("/data", json=[reading(f"a{n}")], headers=bearer(ALPHA_INGEST))
        redis_client.zadd(keys.SENSORS_SEEN, {f"a{n}": 1_000_000 + n})
    # Moved to another org: the alphacorp index still names it.
    redis_client.hset(keys.sensor_meta("a2"), "org", "betacorp")
    first = listed(keyed, ALPHA_READ, "?limit=3")
    second = listed(keyed, ALPHA_READ, f"?limit=3&cursor={first['next_cursor']}")
    assert [s["id"] for s in first["sensors"]] == ["a4", "a3", "a1"]
    assert [s["id"] for s in second["sensors"]] == ["a0"]
    assert first["total"] == 4 and second["next_cursor"] is None
    assert [s["id"] for s in listed(keyed, BETA_READ)["sensors"]] == []  # not in betacorp's index


def _dead_letters_of_two_orgs(make_app):
    app = make_app(webhook_allow_private=True, webhook_max_attempts=1, webhook_timeout=1.0)
    client = app.test_client()
    # Port 9 on loopback refuses the connection: the first attempt dead-letters.
    made = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "secret": "s" * 16}, headers=bearer(ALL_ADMIN))
    assert made.status_code == 201
    events = stores(app).events
    events.publish("sensor.offline", "a1", org="alphacorp", event_id="ev-alpha")
    events.publish("sensor.offline", "b1", org="betacorp", event_id="ev-beta")
    events.publish("sensor.offline", "x1", event_id="ev-none")
    webhooks = stores(app).webhooks
    webhooks.fan_out("test", block_ms=1)
    assert [state for _, state in webhooks.deliver_due()] == ["dead"] * 3
    return client


def dead_letters(client, key: str) -> dict[str, dict]:
    response = client.get("/v1/webhooks/dead-letters", headers=bearer(key))
    assert response.status_code == 200, response.get_json()
    return {dead["event_id"]: dead for dead in response.get_json()["dead_letters"]}


def test_dead_letters_of_an_org_key_are_its_orgs_events_only(make_app):
    client = _dead_letters_of_two_orgs(make_app)
    assert set(dead_letters(client, ALL_ADMIN)) == {"ev-alpha", "ev-beta", "ev-none"}
    alpha = dead_letters(client, ALPHA_ADMIN)
    assert set(alpha) == {"ev-alpha"} and alpha["ev-alpha"]["org"] == "alphacorp"
    assert "org" not in dead_letters(client, ALL_ADMIN)["ev-none"]


def test_an_org_key_replays_its_own_dead_letters_only(make_app):
    client = _dead_letters_of_two_orgs(make_app)
    every = dead_letters(client, ALL_ADMIN)
    for foreign in ("ev-beta", "ev-none"):
        refused = client.post(f"/v1/webhooks/dead-letters/{every[foreign]['id']}/replay", headers=bearer(ALPHA_ADMIN))
        assert refused.status_code == 404
    replayed = client.post(f"/v1/webhooks/dead-letters/{every['ev-alpha']['id']}/replay", headers=bearer(ALPHA_ADMIN))
    assert replayed.status_code == 202
    assert dead_letters(client, ALPHA_ADMIN) == {}
    assert set(dead_letters(client, ALL_ADMIN)) == {"ev-beta", "ev-none"}
