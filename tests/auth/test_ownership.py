"""Ownership that cannot leak (issue 20, parts 2-4): no claim of data of no
org by the first writer, a registered MAC beats for its sensor's org only,
rooms per org, and another org's resource answers like a missing one (or,
where a create cannot proceed, one 409 body whatever org holds the id)."""

from __future__ import annotations

import re

import pytest

from service import keys, timeutil
from service.stores import stores

from .authkeys import (
    ALL_ADMIN,
    ALL_INGEST,
    ALL_READ,
    ALPHA_ADMIN,
    ALPHA_INGEST,
    ALPHA_READ,
    BETA_INGEST,
    BETA_READ,
    KEYS,
    bearer,
    reading,
)

BETA_ADMIN = "ak_beta_admin_5e1c7a3f9b2d6e8c"
MAC = "02:00:00:00:00:0a"
# A reading an hour ago (none may lie in the future: FUTURE_TOLERANCE) and
# the end of a room window ten minutes after it.
_MINUTE_US = 60_000_000
READ_AT_US = (timeutil.now_us() - 60 * _MINUTE_US) // _MINUTE_US * _MINUTE_US
READ_AT = timeutil.us_to_iso(READ_AT_US)
WINDOW_END = timeutil.us_to_iso(READ_AT_US + 10 * _MINUTE_US)
OTHER_MAC = "02:00:00:00:00:0b"


@pytest.fixture
def owned(make_app):
    return make_app({**KEYS, BETA_ADMIN: {"role": "admin", "org": "betacorp"}}).test_client()


def org_of(redis_client, sensor: str):
    org = redis_client.hget(keys.sensor_meta(sensor), "org")
    return org.decode() if org else None


def body_of(response, *names: str) -> str:
    """The response body without its request id, each of ``names`` replaced
    by X (to compare the answers about different ids byte for byte)."""
    text = re.sub(r'"request_id": ?"[^"]*"', '"request_id":""', response.get_data(as_text=True))
    for name in names:
        text = text.replace(name, "X")
    return text


# -- 2. no claim of data of no org by the first writer ----------------------


def test_an_org_key_cannot_claim_a_sensor_holding_readings_of_no_org(owned, redis_client):
    # Readings of an all-orgs key: the sensor has data and no org.
    for second, value in enumerate([100, 100, 100, 100, 102]):
        owned.post("/data", json=[reading("shared", second, value)], headers=bearer(ALL_INGEST))
    refused = owned.post("/data", json=[reading("shared", 30, 0.0)], headers=bearer(ALPHA_INGEST))
    owned.post("/data", json=[reading("b-own", 0, 0.0)], headers=bearer(BETA_INGEST))
    foreign = owned.post("/data", json=[reading("b-own", 30, 0.0)], headers=bearer(ALPHA_INGEST))
    # Exactly like another org's sensor: 404, same body.
    assert refused.status_code == foreign.status_code == 404
    assert body_of(refused, "shared") == body_of(foreign, "b-own")
    assert org_of(redis_client, "shared") is None
    # Nothing of the earlier readings reaches the org's read key.
    read = owned.get("/statistics/shared", headers=bearer(ALPHA_READ))
    missing = owned.get("/statistics/never-seen", headers=bearer(ALPHA_READ))
    assert read.status_code == missing.status_code == 404
    assert body_of(read, "shared") == body_of(missing, "never-seen")
    assert owned.get("/statistics/shared", headers=bearer(ALL_READ)).get_json()["count"] == 5


def test_every_claiming_route_refuses_a_sensor_holding_data_of_no_org(owned, redis_client):
    owned.post("/data", json=[reading("shared", 0, 100.0)], headers=bearer(ALL_INGEST))
    owned.post("/heartbeat", json={"mac_address": MAC}, headers=bearer(ALL_INGEST))
    owned.put("/v1/sensors/listed", json={"name": "registered, no org"}, headers=bearer(ALL_ADMIN))
    room_reading = {"value": 20.0, "timestamp": 1658739178, "sensor": "shared"}
    thermometer = {"siteId": "a-site", "orgId": "alphacorp", "temperature": 21.0, "timestamp": 1658739178, "sensorId": "shared"}
    answers = [
        owned.post("/data", json=[reading("listed")], headers=bearer(ALPHA_INGEST)),
        owned.post("/heartbeat", json={"mac_address": MAC}, headers=bearer(ALPHA_INGEST)),
        owned.put("/v1/sensors/shared", json={"name": "mine"}, headers=bearer(ALPHA_ADMIN)),
        owned.put("/v1/sensors/listed", json={"name": "mine"}, headers=bearer(ALPHA_ADMIN)),
        owned.post("/v1/buildings/B1/rooms/R1/temperatures", json=room_reading, headers=bearer(ALPHA_INGEST)),
        owned.post("/v1/temperatures", json=thermometer, headers=bearer(ALPHA_INGEST)),
    ]
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert org_of(redis_client, "shared") is org_of(redis_client, MAC) is org_of(redis_client, "listed") is None
    assert not redis_client.exists(keys.site("a-site"))


def test_an_all_orgs_admin_assigns_an_org_to_data_of_no_org(owned):
    owned.post("/data", json=[reading("shared", 0, 100.0)], headers=bearer(ALL_INGEST))
    assigned = owned.put("/v1/sensors/shared", json={"org": "alphacorp"}, headers=bearer(ALL_ADMIN))
    assert assigned.status_code == 201
    assert owned.get("/statistics/shared", headers=bearer(ALPHA_READ)).get_json()["count"] == 1
    assert owned.post("/data", json=[reading("shared", 1, 0.0)], headers=bearer(ALPHA_INGEST)).status_code == 200


def test_a_sensor_without_data_is_still_claimed_by_its_first_writer(owned, redis_client):
    assert owned.post("/data", json=[reading("fresh")], headers=bearer(ALPHA_INGEST)).status_code == 200
    assert org_of(redis_client, "fresh") == "alphacorp"


def test_the_claim_checks_for_data_in_the_same_script(owned, redis_client):
    # Data arriving between a route's check and its claim: the claim refuses.
    with owned.application.app_context():
        redis_client.hset(keys.sensor("raced"), mapping={"count": 1})
        assert stores().sensor_orgs.claim(["raced", "empty"], "alphacorp") == [None, "alphacorp"]
        assert stores().sensor_orgs.claim(["other"], "betacorp", check_only=True) == ["betacorp"]
    assert org_of(redis_client, "raced") is None and org_of(redis_client, "other") is None
    assert org_of(redis_client, "empty") == "alphacorp"


# -- 3. no squatting on MACs and rooms ---------------------------------------


def test_a_registered_mac_beats_for_its_sensor_and_its_org_only(owned, redis_client):
    assert owned.put("/v1/sensors/alpha-t", json={"mac": MAC}, headers=bearer(ALPHA_ADMIN)).status_code == 201
    squatted = owned.post("/heartbeat", json={"mac_address": MAC}, headers=bearer(BETA_INGEST))
    owned.post("/heartbeat", json={"mac_address": OTHER_MAC}, headers=bearer(ALPHA_INGEST))
    foreign = owned.post("/heartbeat", json={"mac_address": OTHER_MAC}, headers=bearer(BETA_INGEST))
    assert squatted.status_code == foreign.status_code == 404
    # The refusal names the MAC sent, nothing of the sensor it belongs to.
    assert body_of(squatted, MAC) == body_of(foreign, OTHER_MAC)
    assert "alpha-t" not in squatted.get_data(as_text=True)
    assert not redis_client.exists(keys.sensor_meta(MAC), keys.sensor_heartbeat(MAC))
    mine = owned.post("/heartbeat", json={"mac_address": MAC}, headers=bearer(ALPHA_INGEST))
    assert mine.status_code == 200 and mine.get_json()["sensor"] == "alpha-t"
    assert owned.get("/heartbeat", query_string={"mac_address": MAC}, headers=bearer(ALPHA_INGEST)).status_code == 200
    assert owned.get("/v1/sensors/alpha-t", headers=bearer(ALPHA_READ)).get_json()["last_heartbeat"] is not None


def test_rooms_are_per_org(owned):
    def post(key, value, **extra):
        body = {"value": value, "timestamp": READ_AT, **extra}
        return owned.post("/v1/buildings/B1/rooms/R1/temperatures", json=body, headers=bearer(key))

    def average(key, **query):
        query = {"end": WINDOW_END, **query}
        return owned.get("/v1/buildings/B1/rooms/R1/average", query_string=query, headers=bearer(key))

    assert post(ALPHA_INGEST, 20.0).status_code == 200
    # Another org's post goes to its own room, default sensor or its own.
    assert post(BETA_INGEST, 30.0).status_code == 200
    assert post(BETA_INGEST, 40.0, sensor="b-t").status_code == 200
    alpha = average(ALPHA_READ)
    assert alpha.status_code == 200 and (alpha.get_json()["avg"], alpha.get_json()["count"]) == (20.0, 1)
    assert (average(BETA_READ).get_json()["avg"], average(BETA_READ).get_json()["count"]) == (35.0, 2)
    # An all-orgs key reads one org's room at a time (default: the room of no org).
    assert average(ALL_READ).get_json()["count"] == 0
    assert average(ALL_READ, org="alphacorp").get_json()["avg"] == 20.0
    assert average(ALPHA_READ, org="betacorp").status_code == 404


# -- 4. no existence leak through 409 ----------------------------------------


def test_a_site_id_taken_answers_one_body_whatever_org_holds_it(owned):
    owned.post("/v1/sites", json={"id": "alpha-site", "name": "A", "location": "north"}, headers=bearer(ALPHA_ADMIN))
    owned.post("/v1/sites", json={"id": "beta-site", "name": "B", "location": "north"}, headers=bearer(BETA_ADMIN))
    owned.post("/v1/sites", json={"id": "loose-site", "name": "L", "location": "north"}, headers=bearer(ALL_ADMIN))
    answers = {
        site: owned.post("/v1/sites", json={"id": site, "name": "Mine", "location": "south"}, headers=bearer(BETA_ADMIN))
        for site in ("alpha-site", "beta-site", "loose-site")
    }
    assert {answer.status_code for answer in answers.values()} == {409}
    assert len({body_of(answer, site) for site, answer in answers.items()}) == 1
    assert "alphacorp" not in answers["alpha-site"].get_data(as_text=True)


def test_a_thermometer_reading_for_a_site_not_of_its_org_answers_one_body_whatever_org_holds_it(owned):
    owned.post("/v1/sites", json={"id": "alpha-site", "name": "A", "location": "north"}, headers=bearer(ALPHA_ADMIN))
    owned.post("/v1/sites", json={"id": "loose-site", "name": "L", "location": "north"}, headers=bearer(ALL_ADMIN))
    answers = {
        site: owned.post(
            "/v1/temperatures",
            json={"siteId": site, "orgId": "betacorp", "temperature": 21.0, "timestamp": 1658739178},
            headers=bearer(BETA_INGEST),
        )
        for site in ("alpha-site", "loose-site")
    }
    assert {answer.status_code for answer in answers.values()} == {409}
    assert len({body_of(answer, site) for site, answer in answers.items()}) == 1
    assert "alphacorp" not in answers["alpha-site"].get_data(as_text=True)


def test_a_mac_in_use_answers_an_org_key_one_body_whatever_org_holds_it(owned, redis_client):
    third_mac = "02:00:00:00:00:0c"
    owned.put("/v1/sensors/alpha-t", json={"mac": MAC}, headers=bearer(ALPHA_ADMIN))
    owned.put("/v1/sensors/beta-t", json={"mac": OTHER_MAC}, headers=bearer(BETA_ADMIN))
    # A MAC heard of by heartbeats only: the sensor whose id it is.
    owned.post("/heartbeat", json={"mac_address": third_mac}, headers=bearer(ALPHA_INGEST))
    answers = {
        mac: owned.put("/v1/sensors/beta-new", json={"mac": mac}, headers=bearer(BETA_ADMIN))
        for mac in (MAC, OTHER_MAC, third_mac)
    }
    assert {answer.status_code for answer in answers.values()} == {409}
    assert len({body_of(answer, mac) for mac, answer in answers.items()}) == 1
    assert "alpha-t" not in answers[MAC].get_data(as_text=True)
    assert not redis_client.exists(keys.sensor_meta("beta-new"))
    # An all-orgs admin is told which sensor holds it.
    told = owned.put("/v1/sensors/other", json={"mac": MAC}, headers=bearer(ALL_ADMIN))
    assert told.status_code == 409 and "alpha-t" in told.get_json()["message"]


def test_an_org_room_indexed_before_rooms_were_per_org_needs_no_migration(owned, redis_client):
    meta = {"org": "alphacorp", "building": "B1", "room": "R1", "kind": "temperature"}
    owned.put("/v1/sensors/old-a", json=meta, headers=bearer(ALL_ADMIN))
    # As a registration before rooms were per org left it.
    redis_client.srem(keys.sensors_in_room("B1", "R1", "alphacorp"), "old-a")
    redis_client.sadd(keys.sensors_in_room("B1", "R1"), "old-a")
    owned.post("/data", json=[{"sensor": "old-a", "timestamp": READ_AT, "value": 21.0}], headers=bearer(ALL_INGEST))

    def average(key, **query):
        query = {"end": WINDOW_END, **query}
        return owned.get("/v1/buildings/B1/rooms/R1/average", query_string=query, headers=bearer(key)).get_json()

    assert (average(ALPHA_READ)["avg"], average(ALPHA_READ)["sensors"]) == (21.0, ["old-a"])
    assert average(ALL_READ)["count"] == 0  # not a sensor of the room of no org
    # Registered again, it leaves the room of no org.
    owned.put("/v1/sensors/old-a", json=meta, headers=bearer(ALL_ADMIN))
    assert not redis_client.sismember(keys.sensors_in_room("B1", "R1"), "old-a")
    assert average(ALPHA_READ)["sensors"] == ["old-a"]


def test_an_org_listing_by_room_shows_its_sensors_only_old_index_entries_included(owned, redis_client):
    owned.put("/v1/sensors/a-new", json={"building": "B1", "room": "R1"}, headers=bearer(ALPHA_ADMIN))
    owned.put("/v1/sensors/a-old", json={"building": "B1", "room": "R1"}, headers=bearer(ALPHA_ADMIN))
    owned.put("/v1/sensors/b-one", json={"building": "B1", "room": "R1"}, headers=bearer(BETA_ADMIN))
    redis_client.srem(keys.sensors_in_room("B1", "R1", "alphacorp"), "a-old")
    redis_client.sadd(keys.sensors_in_room("B1", "R1"), "a-old")

    def ids(key, **query):
        answer = owned.get("/v1/sensors", query_string={"building": "B1", "room": "R1", **query}, headers=bearer(key))
        return sorted(sensor["id"] for sensor in answer.get_json()["sensors"])

    assert ids(ALPHA_READ) == ["a-new", "a-old"]
    assert ids(ALL_READ) == ["a-new", "a-old", "b-one"]
    assert ids(ALL_READ, org="betacorp") == ["b-one"]
