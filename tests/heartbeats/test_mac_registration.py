"""A MAC address heard by heartbeats before it was registered to a sensor:
registering it moves what was heard under the MAC's own id to the sensor,
so every view shows one device as one sensor (real Redis)."""

from __future__ import annotations

import json
import time

from service import keys
from tests.auth.authkeys import BETA_INGEST, BETA_READ, KEYS, bearer

MAC = "02:00:00:00:00:f1"
BETA_ADMIN = "ak_beta_admin_5e1c9a3f7b2d8e4c6"


def ids(sensors: list[dict]) -> list[str]:
    return [sensor["id"] for sensor in sensors]


def stream_events(redis_client) -> list[tuple[str, str]]:
    return [(f[b"type"].decode(), f[b"subject"].decode()) for _, f in redis_client.xrange(keys.EVENTS_STREAM)]


def assert_one_sensor(client, headers=None, sensor_id="dev-f1", since_ms=None):
    """Every view lists ``sensor_id`` once, online, heard by its heartbeat,
    and the MAC's own id nowhere."""
    overview = client.get("/sensors", headers=headers).json
    assert ids(overview["sensors"]) == [sensor_id] and overview["total"] == 1
    shown = overview["sensors"][0]
    one = client.get(f"/v1/sensors/{sensor_id}", headers=headers).json
    assert ids(client.get("/v1/sensors", headers=headers).json["sensors"]) == [sensor_id]
    assert client.get(f"/v1/sensors/{MAC}", headers=headers).status_code == 404
    assert (one["status"], shown["status"]) == ("online", "online")
    assert one["last_heard"] == shown["last_heard"] and one["last_heard"] is not None
    assert one["last_heartbeat"] == shown["last_heartbeat"] and one["last_heartbeat"] is not None
    assert (one["mac"], shown["mac_address"]) == (MAC, MAC)
    if since_ms is not None:
        changed = client.get(f"/sensors/changes?since={since_ms}", headers=headers).json
        assert ids(changed["sensors"]) == [sensor_id]
        assert changed["sensors"][0]["last_heartbeat"] == one["last_heartbeat"]
    return one


def test_a_mac_heard_before_its_registration_is_its_sensor_in_every_view(client):
    since_ms = int(time.time() * 1000) - 10_000
    assert client.post("/heartbeat", json={"mac_address": MAC}).json["sensor"] == MAC
    assert client.put("/v1/sensors/dev-f1", json={"org": "beta", "mac": MAC, "kind": "temperature"}).status_code == 201
    before = assert_one_sensor(client, since_ms=since_ms)
    # The MAC's next heartbeat is the sensor's.
    assert client.post("/heartbeat", json={"mac_address": MAC}).json["sensor"] == "dev-f1"
    after = assert_one_sensor(client, since_ms=since_ms)
    assert after["last_heartbeat"] > before["last_heartbeat"]


def test_an_org_s_mac_heard_before_its_registration_is_its_sensor_in_every_view(make_app):
    keyed = make_app(api_keys_text=json.dumps({**KEYS, BETA_ADMIN: {"role": "admin", "org": "betacorp"}})).test_client()
    since_ms = int(time.time() * 1000) - 10_000
    assert keyed.post("/heartbeat", json={"mac_address": MAC}, headers=bearer(BETA_INGEST)).status_code == 200
    assert keyed.put("/v1/sensors/dev-f1", json={"mac": MAC, "kind": "temperature"},
                     headers=bearer(BETA_ADMIN)).status_code == 201
    assert_one_sensor(keyed, bearer(BETA_READ), since_ms=since_ms)
    assert keyed.post("/heartbeat", json={"mac_address": MAC}, headers=bearer(BETA_INGEST)).json["sensor"] == "dev-f1"


def test_a_registered_mac_id_publishes_no_offline_event_its_sensor_does(app, client, store, detector, redis_client):
    t0 = time.time() - 5
    store.heartbeat(MAC, now=t0)
    client.put("/v1/sensors/dev-f1", json={"org": "beta", "mac": MAC})
    assert detector.run_once(now=t0 + store.offline_after - 1) == []
    events = detector.run_once(now=t0 + store.offline_after + 1)
    assert [(e["type"], e["sensor"], e["org"]) for e in events] == [("sensor.offline", "dev-f1", "beta")]
    assert detector.run_once(now=t0 + 2 * store.offline_after) == []
    assert stream_events(redis_client) == [("sensor.offline", "dev-f1")]


def test_a_heartbeat_that_lands_on_the_mac_id_after_registration_moves_on_the_next_check(app, client, store, detector,
                                                                                          redis_client):
    t0 = time.time() - 5
    client.put("/v1/sensors/dev-f1", json={"org": "beta", "mac": MAC})
    # One that looked the MAC up before it was registered.
    store.heartbeat(MAC, now=t0, sensor_id=MAC)
    events = detector.run_once(now=t0 + store.offline_after + 1)
    assert [(e["type"], e["sensor"]) for e in events] == [("sensor.offline", "dev-f1")]
    assert redis_client.zscore(keys.SENSORS_SEEN, MAC) is None
    assert ids(client.get("/v1/sensors").json["sensors"]) == ["dev-f1"]
    assert client.get("/v1/sensors/dev-f1").json["last_heartbeat"] is not None


def test_the_mac_id_offline_before_registration_hands_its_sensor_the_offline_state_without_a_second_event(
        app, client, store, detector, redis_client):
    t0 = time.time() - 3 * store.offline_after
    store.heartbeat(MAC, now=t0)
    assert [e["sensor"] for e in detector.run_once(now=t0 + store.offline_after + 1)] == [MAC]
    client.put("/v1/sensors/dev-f1", json={"org": "beta", "mac": MAC})
    one = client.get("/v1/sensors/dev-f1").json
    assert (one["status"], one["last_heartbeat"] is not None) == ("offline", True)
    assert stream_events(redis_client) == [("sensor.offline", MAC)]
    assert redis_client.zscore(keys.EVENTS_OFFLINE, MAC) is None
    # Back online by its heartbeat, as the sensor.
    client.post("/heartbeat", json={"mac_address": MAC})
    assert stream_events(redis_client)[-1] == ("sensor.online", "dev-f1")
    assert client.get("/v1/sensors/dev-f1").json["status"] == "online"


def test_a_mac_id_holding_readings_stays_listed_with_its_statistics(client):
    now = time.time()
    client.post("/data", json=[{"sensor": MAC, "timestamp": "2021-11-08T21:38:00Z", "value": 21.5}])
    client.post("/heartbeat", json={"mac_address": MAC})
    client.put("/v1/sensors/dev-f1", json={"org": "beta", "mac": MAC})
    listed = {sensor["id"]: sensor for sensor in client.get("/v1/sensors").json["sensors"]}
    assert sorted(listed) == [MAC, "dev-f1"]
    assert listed[MAC]["statistics"]["count"] == 1 and listed[MAC]["statistics"]["last_value"] == 21.5
    assert listed[MAC]["last_heartbeat"] is None and listed[MAC]["status"] == "online"
    assert listed["dev-f1"]["last_heartbeat"] is not None and listed["dev-f1"]["status"] == "online"
    overview = client.get("/sensors").json
    assert sorted(ids(overview["sensors"])) == [MAC, "dev-f1"] and overview["total"] == 2
    changed = client.get(f"/sensors/changes?since={int(now * 1000) - 10_000}").json
    assert sorted(ids(changed["sensors"])) == [MAC, "dev-f1"]


def test_registering_a_mac_again_changes_nothing_and_keeps_the_later_heard(app, client, store, redis_client):
    now = time.time()
    client.put("/v1/sensors/dev-f1", json={"org": "beta", "kind": "temperature"})
    client.post("/data", json=[{"sensor": "dev-f1", "timestamp": "2021-11-08T21:38:00Z", "value": 20}])
    heard = redis_client.zscore(keys.SENSORS_SEEN, "dev-f1")
    store.heartbeat(MAC, now=now - 60)
    body = {"org": "beta", "kind": "temperature", "mac": MAC}
    assert client.put("/v1/sensors/dev-f1", json=body).status_code == 200
    first = client.get("/v1/sensors/dev-f1").json
    assert redis_client.zscore(keys.SENSORS_SEEN, "dev-f1") == heard  # the reading's, later than the heartbeat
    assert first["last_heartbeat"] is not None and first["status"] == "online"
    for _ in range(2):
        assert client.put("/v1/sensors/dev-f1", json=body).status_code == 200
        assert store.adopt_mac(MAC, "dev-f1") == (False, [])
    again = client.get("/v1/sensors/dev-f1").json
    assert {k: again[k] for k in ("status", "last_heard", "last_heartbeat", "mac")} == {
        k: first[k] for k in ("status", "last_heard", "last_heartbeat", "mac")}
    assert ids(client.get("/v1/sensors").json["sensors"]) == ["dev-f1"]
    assert stream_events(redis_client) == []


def test_an_unregistered_mac_beats_for_its_own_id_again_and_its_next_sensor_takes_that(client):
    client.post("/heartbeat", json={"mac_address": MAC})
    client.put("/v1/sensors/dev-f1", json={"org": "beta", "mac": MAC})
    client.put("/v1/sensors/dev-f1", json={"org": "beta"})
    kept = client.get("/v1/sensors/dev-f1").json
    assert kept["last_heartbeat"] is not None and kept["mac"] is None  # what it heard stays its own
    assert client.post("/heartbeat", json={"mac_address": MAC}).json["sensor"] == MAC
    assert client.put("/v1/sensors/dev-g1", json={"org": "beta", "mac": MAC}).status_code == 201
    assert client.get(f"/v1/sensors/{MAC}").status_code == 404
    moved = client.get("/v1/sensors/dev-g1").json
    assert moved["last_heartbeat"] >= kept["last_heartbeat"] and moved["mac"] == MAC
    assert sorted(ids(client.get("/v1/sensors").json["sensors"])) == ["dev-f1", "dev-g1"]
