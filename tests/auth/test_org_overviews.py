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


def _dead_letters_of_two_webhooks(make_app):
    """An all-orgs webhook and an alphacorp webhook, both failing at once:
    the all-orgs one dead-letters an event of alphacorp, betacorp and none,
    the alphacorp one its org's event."""
    app = make_app(webhook_allow_private=True, webhook_max_attempts=1, webhook_timeout=1.0)
    client = app.test_client()
    # Port 9 on loopback refuses the connection: the first attempt dead-letters.
    for key, url in ((ALL_ADMIN, "http://127.0.0.1:9/every-org"), (ALPHA_ADMIN, "http://127.0.0.1:9/alpha")):
        made = client.post("/v1/webhooks", json={"url": url, "secret": "s" * 16}, headers=bearer(key))
        assert made.status_code == 201
    events = stores(app).events
    events.publish("sensor.offline", "a1", org="alphacorp", event_id="ev-alpha")
    events.publish("sensor.offline", "b1", org="betacorp", event_id="ev-beta")
    events.publish("sensor.offline", "x1", event_id="ev-none")
    webhooks = stores(app).webhooks
    webhooks.fan_out("test", block_ms=1)
    assert [state for _, state in webhooks.deliver_due()] == ["dead"] * 4
    return client


def dead_letters(client, key: str) -> dict[tuple[str, str], dict]:
    """The dead letters the key lists, by (webhook url's path, event id)."""
    urls = {w["id"]: w["url"].rsplit("/", 1)[1] for w in client.get("/v1/webhooks", headers=bearer(ALL_ADMIN)).get_json()["webhooks"]}
    response = client.get("/v1/webhooks/dead-letters", headers=bearer(key))
    assert response.status_code == 200, response.get_json()
    return {(urls[dead["webhook"]], dead["event_id"]): dead for dead in response.get_json()["dead_letters"]}


def test_an_org_key_lists_the_dead_letters_of_its_orgs_webhooks_only(make_app):
    client = _dead_letters_of_two_webhooks(make_app)
    every = dead_letters(client, ALL_ADMIN)
    assert set(every) == {("every-org", "ev-alpha"), ("every-org", "ev-beta"), ("every-org", "ev-none"),
                          ("alpha", "ev-alpha")}
    # The all-orgs webhook's dead letter of an alphacorp event is not alphacorp's:
    # its webhook, its URL and its error are the all-orgs admin's.
    alpha = dead_letters(client, ALPHA_ADMIN)
    assert set(alpha) == {("alpha", "ev-alpha")} and alpha["alpha", "ev-alpha"]["org"] == "alphacorp"
    assert "org" not in every["every-org", "ev-none"]


def test_an_org_key_cannot_replay_or_discard_a_dead_letter_of_a_webhook_it_cannot_see(make_app):
    client = _dead_letters_of_two_webhooks(make_app)
    every = dead_letters(client, ALL_ADMIN)
    missing_id = every["alpha", "ev-alpha"]["webhook"] + ":1-0"
    for foreign in (("every-org", "ev-alpha"), ("every-org", "ev-beta"), ("every-org", "ev-none")):
        dead_id = every[foreign]["id"]
        for method, path in (("POST", f"/v1/webhooks/dead-letters/{dead_id}/replay"),
                             ("DELETE", f"/v1/webhooks/dead-letters/{dead_id}")):
            refused = client.open(path, method=method, headers=bearer(ALPHA_ADMIN))
            missing = client.open(path.replace(dead_id, missing_id), method=method, headers=bearer(ALPHA_ADMIN))
            assert refused.status_code == missing.status_code == 404
            assert refused.get_json()["message"] == missing.get_json()["message"].replace(missing_id, dead_id)
    assert dead_letters(client, ALL_ADMIN) == every  # nothing replayed, nothing discarded

    own = every["alpha", "ev-alpha"]["id"]
    replayed = client.post(f"/v1/webhooks/dead-letters/{own}/replay", headers=bearer(ALPHA_ADMIN))
    assert replayed.status_code == 202
    assert dead_letters(client, ALPHA_ADMIN) == {}
    assert set(dead_letters(client, ALL_ADMIN)) == {("every-org", "ev-alpha"), ("every-org", "ev-beta"),
                                                    ("every-org", "ev-none")}


def test_dead_letters_listed_by_org_from_before_they_were_indexed_by_webhook_are_the_webhooks_orgs(make_app, redis_client):
    client = _dead_letters_of_two_webhooks(make_app)
    every = dead_letters(client, ALL_ADMIN)
    # Indexed by their event's org, as dead letters were before.
    legacy = every["every-org", "ev-alpha"]["id"]
    redis_client.zadd(keys.webhook_dead_index_of("alphacorp"), {legacy: 10**12})  # the newest
    assert set(dead_letters(client, ALPHA_ADMIN)) == {("alpha", "ev-alpha")}
    response = client.get("/v1/webhooks/dead-letters?limit=1", headers=bearer(ALPHA_ADMIN))
    assert [dead["webhook"] for dead in response.get_json()["dead_letters"]] == [every["alpha", "ev-alpha"]["webhook"]]
    assert redis_client.zscore(keys.webhook_dead_index_of("alphacorp"), legacy) is None  # taken out on the way
