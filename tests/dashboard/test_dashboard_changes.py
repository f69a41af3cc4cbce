"""GET /sensors/changes, the dashboard's live feed: the sensors heard or
turned offline since a cursor, shaped and org-filtered as GET /sensors,
with an overlap before the cursor, a cursor that only moves with a change
(so an idle feed is a 304), and its query checked by the schema."""

from __future__ import annotations

import json
import time

import pytest

from service import keys
from service.heartbeats.store import CHANGES_OVERLAP_SECONDS


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def changes(client, since: float, headers: dict | None = None, **params):
    query = "&".join([f"since={ms(since)}"] + [f"{name}={value}" for name, value in params.items()])
    answer = client.get("/sensors/changes?" + query, headers=headers or {})
    assert answer.status_code == 200, answer.json
    return answer.json


def ids(doc: dict) -> list[str]:
    return [sensor["id"] for sensor in doc["sensors"]]


@pytest.mark.parametrize(("query", "field"), [
    ("", "since"),
    ("since=soon", "since"),
    ("since=1.5", "since"),
    ("since=-1", "since"),
    ("since=9007199254740992", "since"),
    ("since=0&limit=0", "limit"),
    ("since=0&limit=5001", "limit"),
    ("since=0&unit=kelvins", "unit"),
    ("since=0&org=a%20b", "org"),
])
def test_a_bad_query_is_a_422_in_the_one_error_shape(client, query, field):
    answer = client.get("/sensors/changes?" + query)
    assert answer.status_code == 422
    body = answer.json
    assert body["code"] == 422 and body["message"] and body["request_id"]
    assert field in body["errors"]["query"]


def test_a_cursor_ahead_of_the_servers_clock_is_refused(client):
    ahead = client.get(f"/sensors/changes?since={ms(time.time() + 3600)}")
    assert ahead.status_code == 422
    assert "Ahead of the server's clock" in ahead.json["errors"]["query"]["since"][0]
    # A little ahead (another replica's clock) is taken.
    assert client.get(f"/sensors/changes?since={ms(time.time() + 5)}").status_code == 200


def test_the_sensors_heard_since_the_cursor_in_the_shape_of_get_sensors(client, redis_client):
    client.put("/v1/sensors/lobby", json={"org": "acme", "site": "hq", "kind": "temperature", "name": "Lobby"})
    client.post("/data", json=[{"sensor": "lobby", "timestamp": time.time() - 60, "value": 21.5},
                               {"sensor": "boiler", "timestamp": time.time() - 60, "value": 60}])
    # Both heard a minute ago.
    redis_client.zadd(keys.SENSORS_SEEN, {"lobby": time.time() - 60, "boiler": time.time() - 60})
    since = time.time() - 10
    assert ids(changes(client, since)) == []
    client.post("/data", json=[{"sensor": "lobby", "timestamp": time.time(), "value": 22.5}])
    doc = changes(client, since, unit="F")
    assert ids(doc) == ["lobby"]
    listed = {s["id"]: s for s in client.get("/sensors?unit=F").json["sensors"]}
    assert doc["sensors"][0] == listed["lobby"]
    assert doc["sensors"][0]["last_reading"]["value"] == pytest.approx(72.5)
    assert doc["complete"] is True and doc["offline_after"] == client.get("/sensors").json["offline_after"]


def test_the_feed_looks_a_couple_of_seconds_before_its_cursor(client, redis_client):
    """A sensors:seen write may land after a later cursor was answered, or
    carry whole seconds: the overlap answers it again rather than miss it."""
    client.post("/data", json=[{"sensor": "s-1", "timestamp": time.time(), "value": 1}])
    heard = redis_client.zscore(keys.SENSORS_SEEN, "s-1")
    assert ids(changes(client, heard + CHANGES_OVERLAP_SECONDS - 0.5)) == ["s-1"]
    assert ids(changes(client, heard + CHANGES_OVERLAP_SECONDS + 0.5)) == []
    # A score of whole seconds (a write skipped within the same second) is still answered.
    redis_client.zadd(keys.SENSORS_SEEN, {"s-1": int(heard)})
    assert ids(changes(client, heard + 1)) == ["s-1"]


def test_the_cursor_moves_with_a_change_only_so_an_idle_feed_is_a_304(client):
    since = time.time()
    idle = client.get(f"/sensors/changes?since={ms(since)}")
    assert idle.json["sensors"] == [] and idle.json["next_cursor"] == ms(since)
    again = client.get(f"/sensors/changes?since={ms(since)}", headers={"If-None-Match": idle.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""

    client.post("/heartbeat", json={"mac_address": "02:00:00:00:00:01"})
    moved = client.get(f"/sensors/changes?since={ms(since)}", headers={"If-None-Match": idle.headers["ETag"]})
    assert moved.status_code == 200 and ids(moved.json) == ["02:00:00:00:00:01"]
    heard = moved.json["sensors"][0]["last_heard"]
    cursor = moved.json["next_cursor"]
    assert cursor >= ms(since) and abs(cursor - ms(time.time())) < 5000
    # Asked from there, the heartbeat is answered again (the overlap), the same
    # answer each time (a 304), until something else changes.
    first = client.get(f"/sensors/changes?since={cursor}")
    assert ids(first.json) == ["02:00:00:00:00:01"] and first.json["sensors"][0]["last_heard"] == heard
    assert first.json["next_cursor"] == cursor
    assert client.get(f"/sensors/changes?since={cursor}", headers={"If-None-Match": first.headers["ETag"]}
                      ).status_code == 304


def test_a_status_turning_offline_without_a_reading_is_a_change(make_app):
    client = make_app(offline_after=1.0).test_client()
    client.post("/heartbeat", json={"mac_address": "02:00:00:00:00:02"})
    since = time.time() + CHANGES_OVERLAP_SECONDS + 0.1  # past the heartbeat and its overlap
    time.sleep(0.1)
    assert ids(changes(client, since)) == []
    time.sleep(CHANGES_OVERLAP_SECONDS + 1.2)  # silent for OFFLINE_AFTER after the cursor
    doc = changes(client, since)
    assert [(s["id"], s["status"]) for s in doc["sensors"]] == [("02:00:00:00:00:02", "offline")]
    # The cursor is the moment it turned (heard + OFFLINE_AFTER), in the past: asked again, the same answer.
    assert ms(since) <= doc["next_cursor"] <= ms(time.time())
    assert ids(changes(client, doc["next_cursor"] / 1000)) == ["02:00:00:00:00:02"]


def test_an_org_key_gets_its_orgs_changes_only(make_app):
    read_acme, admin = "changes-read-acme-0123456789abcdef", "changes-admin-all-0123456789abcdef"
    api_keys = {read_acme: {"role": "read", "org": "acme"}, admin: {"role": "admin", "org": "*"}}
    client = make_app(api_keys_text=json.dumps(api_keys)).test_client()
    as_admin, as_acme = {"X-API-Key": admin}, {"X-API-Key": read_acme}
    for sensor, org in (("a-1", "acme"), ("b-1", "betacorp")):
        assert client.put(f"/v1/sensors/{sensor}", json={"org": org, "kind": "co2"}, headers=as_admin).status_code == 201
    since = time.time()
    readings = [{"sensor": s, "timestamp": time.time(), "value": 500} for s in ("a-1", "b-1", "stray")]
    assert client.post("/data", json=readings, headers=as_admin).status_code == 200

    assert client.get(f"/sensors/changes?since={ms(since)}").status_code == 401
    acme = client.get(f"/sensors/changes?since={ms(since)}", headers=as_acme).json
    assert ids(acme) == ["a-1"]
    assert acme["fleet"] == 1  # the org's registered sensors: nothing of the others' fleet
    assert client.get(f"/sensors/changes?since={ms(since)}&org=betacorp", headers=as_acme).status_code == 404
    assert sorted(ids(changes(client, since, headers=as_admin))) == ["a-1", "b-1", "stray"]
    assert ids(client.get(f"/sensors/changes?since={ms(since)}&org=betacorp", headers=as_admin).json) == ["b-1"]
    # The same as the listing shows that key.
    assert ids(client.get("/sensors", headers=as_acme).json) == ["a-1"]


def test_a_mac_registered_to_a_sensor_is_answered_as_that_sensor(client):
    mac = "02:00:00:00:00:c3"
    since = time.time()
    client.post("/heartbeat", json={"mac_address": mac})  # heard before it was registered
    assert ids(changes(client, since)) == [mac]
    assert client.put("/v1/sensors/boiler-2", json={"org": "acme", "kind": "temperature", "mac": mac}).status_code == 201
    doc = changes(client, since)
    assert ids(doc) == ["boiler-2"] and doc["sensors"][0]["mac_address"] == mac
    assert doc["sensors"][0]["status"] == "online"


def test_more_changes_than_the_limit_say_list_again(client):
    since = time.time()
    client.post("/data", json=[{"sensor": f"s-{n}", "timestamp": time.time(), "value": n} for n in range(5)])
    assert len(changes(client, since, limit=5)["sensors"]) == 5
    doc = changes(client, since, limit=4)
    assert doc["complete"] is False and doc["sensors"] == [] and doc["next_cursor"] == ms(since)


def test_the_fleet_count_changes_when_a_sensor_is_registered_or_first_heard_of(client):
    since = time.time()
    before = changes(client, since)["fleet"]
    client.put("/v1/sensors/new-1", json={"kind": "co2"})
    registered = changes(client, since)
    assert registered["sensors"] == [] and registered["fleet"] > before  # never heard: listed by GET /sensors only
    client.post("/data", json=[{"sensor": "new-2", "timestamp": time.time(), "value": 1}])
    assert changes(client, since)["fleet"] > registered["fleet"]
