"""Ids that say whose they are: a sensor's site is a site of its org, a
room's own sensor id is its room's org's, a site's id is the id of the
sensor its readings go to."""

from __future__ import annotations

import time

import pytest

from service import keys

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
)
from .test_ownership import body_of, org_of

BETA_ADMIN = "ak_beta_admin_5e1c7a3f9b2d6e8c"


@pytest.fixture
def owned(make_app):
    return make_app({**KEYS, BETA_ADMIN: {"role": "admin", "org": "betacorp"}}).test_client()


def now_reading(sensor: str, value: float = 20.0, seconds_ago: int = 0) -> dict:
    return {"sensor": sensor, "timestamp": int(time.time()) - seconds_ago, "value": value}


def create_site(client, key: str, site_id: str, **extra):
    return client.post("/v1/sites", json={"id": site_id, "name": site_id, "location": "x", **extra}, headers=bearer(key))


def thermometer(client, key: str, site_id: str, org: str, temperature: float = 21.0, **extra):
    body = {"siteId": site_id, "orgId": org, "temperature": temperature, "timestamp": int(time.time()), **extra}
    return client.post("/v1/temperatures", json=body, headers=bearer(key))


def overview(client, key: str, query: str = "") -> dict:
    answer = client.get("/sensors" + query, headers=bearer(key))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


# -- a sensor's site is a site of its org ------------------------------------


def test_an_org_admin_cannot_put_its_sensor_on_another_orgs_site(owned, redis_client):
    assert create_site(owned, BETA_ADMIN, "bsite3").status_code == 201
    assert create_site(owned, ALL_ADMIN, "loose-site").status_code == 201
    answers = {
        site: owned.put("/v1/sensors/spy", json={"org": "alphacorp", "site": site, "kind": "temperature"},
                        headers=bearer(ALPHA_ADMIN))
        for site in ("bsite3", "loose-site")
    }
    assert {answer.status_code for answer in answers.values()} == {409}
    # One body whatever org holds the site (or none): nothing of its owner.
    assert len({body_of(answer, site) for site, answer in answers.items()}) == 1
    assert "betacorp" not in answers["bsite3"].get_data(as_text=True)
    assert not redis_client.exists(keys.sensor_meta("spy"))
    # An all-orgs admin cannot join them either; its own org's site is fine.
    assert owned.put("/v1/sensors/spy", json={"org": "alphacorp", "site": "bsite3"},
                     headers=bearer(ALL_ADMIN)).status_code == 409
    assert create_site(owned, ALPHA_ADMIN, "asite").status_code == 201
    assert owned.put("/v1/sensors/spy", json={"site": "asite", "kind": "temperature"},
                     headers=bearer(ALPHA_ADMIN)).status_code == 201


def test_the_overview_never_shows_another_orgs_site_status(owned):
    # Registered while the site did not exist; another org creates it later.
    assert owned.put("/v1/sensors/spy", json={"site": "bsite3", "kind": "temperature"},
                     headers=bearer(ALPHA_ADMIN)).status_code == 201
    assert create_site(owned, BETA_ADMIN, "bsite3").status_code == 201
    assert owned.post("/data", json=[now_reading("spy")], headers=bearer(ALPHA_INGEST)).status_code == 200
    assert thermometer(owned, BETA_INGEST, "bsite3", "betacorp", 40.0).status_code == 200
    assert owned.get("/v1/admin/toohotornot", query_string={"siteId": "bsite3"},
                     headers=bearer(ALPHA_READ)).status_code == 404

    alpha = overview(owned, ALPHA_READ)
    assert [(s["id"], s["too_hot"]) for s in alpha["sensors"]] == [("spy", False)]
    assert alpha["too_hot_sites"] == []
    assert overview(owned, BETA_READ)["too_hot_sites"] == ["bsite3"]
    everything = overview(owned, ALL_READ)
    assert everything["too_hot_sites"] == ["bsite3"]
    assert {s["id"]: s["too_hot"] for s in everything["sensors"]} == {"spy": False, "bsite3": True}
    assert overview(owned, ALL_READ, "?org=alphacorp")["too_hot_sites"] == []
    since = (int(time.time()) - 60) * 1000
    assert overview(owned, ALPHA_READ, f"/changes?since={since}")["too_hot_sites"] == []


# -- a room's own sensor id is its org's ---------------------------------------


def test_another_org_cannot_take_a_rooms_own_sensor_id_by_any_route(owned, redis_client):
    def room_post(key, room, **reading):
        body = [{"value": 20.0, "timestamp": int(time.time()), **reading}]
        return owned.post(f"/v1/buildings/HQ/rooms/{room}/temperatures", json=body, headers=bearer(key))

    in_another_room = room_post(BETA_INGEST, "Lobby", sensor="room.alphacorp.HQ.Boardroom")
    assert in_another_room.status_code == 422
    assert "room.alphacorp.HQ.Boardroom" in in_another_room.get_json()["errors"]["json"]["0"]["sensor"][0]
    refused = {
        "room": room_post(BETA_INGEST, "Boardroom", sensor="room.alphacorp.HQ.Boardroom"),
        "data": owned.post("/data", json=[now_reading("room.alphacorp.HQ.Kitchen")], headers=bearer(BETA_INGEST)),
        "line": owned.post("/api/v2/write?org=x&bucket=y&precision=s",
                           data=f"t,sensor=room.alphacorp.HQ.Pantry value=20 {int(time.time())}",
                           headers={**bearer(BETA_INGEST), "Content-Type": "text/plain"}),
        "registry": owned.put("/v1/sensors/room.alphacorp.HQ.Attic", json={"kind": "temperature"},
                              headers=bearer(BETA_ADMIN)),
        "too hot": thermometer(owned, BETA_INGEST, "b-site", "betacorp", sensorId="room.alphacorp.HQ.Cellar"),
    }
    assert {route: answer.status_code for route, answer in refused.items()} == dict.fromkeys(refused, 404)
    assert "room.alphacorp.HQ.Kitchen" in refused["data"].get_json()["message"]
    for room in ("Boardroom", "Kitchen", "Pantry", "Attic", "Cellar"):
        assert not redis_client.exists(keys.sensor_meta(f"room.alphacorp.HQ.{room}"), keys.sensor(f"room.alphacorp.HQ.{room}"))
    # The org itself writes them, by its room's route or any other.
    mine = owned.post("/v1/buildings/HQ/rooms/Boardroom/temperatures", json={"value": 21.0, "timestamp": int(time.time())},
                      headers=bearer(ALPHA_INGEST))
    assert mine.status_code == 200 and mine.get_json()["sensors"] == ["room.alphacorp.HQ.Boardroom"]
    assert owned.post("/data", json=[now_reading("room.alphacorp.HQ.Kitchen")], headers=bearer(ALPHA_INGEST)).status_code == 200


def test_a_rooms_own_sensor_claimed_by_another_org_before_stays_refused_to_it(owned, redis_client):
    # As a squat from before the rule left it: another org holds the id.
    assert owned.post("/data", json=[now_reading("room.alphacorp.HQ.Boardroom")], headers=bearer(ALL_INGEST)).status_code == 200
    redis_client.hset(keys.sensor_meta("room.alphacorp.HQ.Boardroom"), "org", "betacorp")
    again = owned.post("/data", json=[now_reading("room.alphacorp.HQ.Boardroom", seconds_ago=1)], headers=bearer(BETA_INGEST))
    assert again.status_code == 404
    # An all-orgs admin gives it back to its org; another org is refused.
    wrong = owned.put("/v1/sensors/room.alphacorp.HQ.Boardroom", json={"org": "betacorp"}, headers=bearer(ALL_ADMIN))
    assert wrong.status_code == 422 and "org" in wrong.get_json()["errors"]["json"]
    assert owned.put("/v1/sensors/room.alphacorp.HQ.Boardroom", json={"org": "alphacorp"},
                     headers=bearer(ALL_ADMIN)).status_code == 201
    assert org_of(redis_client, "room.alphacorp.HQ.Boardroom") == "alphacorp"
    mine = owned.post("/v1/buildings/HQ/rooms/Boardroom/temperatures", json={"value": 21.0, "timestamp": int(time.time())},
                      headers=bearer(ALPHA_INGEST))
    assert mine.status_code == 200


def test_an_org_key_cannot_claim_the_own_sensor_of_a_room_of_no_org(owned, redis_client):
    refused = owned.post("/data", json=[now_reading("room.HQ.Lobby")], headers=bearer(ALPHA_INGEST))
    assert refused.status_code == 404
    assert not redis_client.exists(keys.sensor_meta("room.HQ.Lobby"))
    # One its org claimed before rooms were per org is still its own.
    redis_client.hset(keys.sensor_meta("room.HQ.Hall"), "org", "alphacorp")
    assert owned.post("/data", json=[now_reading("room.HQ.Hall")], headers=bearer(ALPHA_INGEST)).status_code == 200


def test_a_rooms_own_sensor_is_of_no_other_room_of_its_org(owned, redis_client):
    body = [{"value": 13.0, "timestamp": int(time.time()), "sensor": "room.alphacorp.B8.R8"}]
    refused = owned.post("/v1/buildings/B7/rooms/R7/temperatures", json=body, headers=bearer(ALPHA_INGEST))
    assert refused.status_code == 422
    assert "room.alphacorp.B8.R8" in refused.get_json()["errors"]["json"]["0"]["sensor"][0]
    assert not redis_client.exists(keys.sensor_meta("room.alphacorp.B8.R8"), keys.sensor("room.alphacorp.B8.R8"))
    own = owned.post("/v1/buildings/B8/rooms/R8/temperatures", json=[{"value": 14.0, "timestamp": int(time.time())}],
                     headers=bearer(ALPHA_INGEST))
    assert own.status_code == 200
    moved = owned.put("/v1/sensors/room.alphacorp.B8.R8", json={"building": "B7", "room": "R7", "kind": "temperature"},
                      headers=bearer(ALPHA_ADMIN))
    assert moved.status_code == 422 and "building" in moved.get_json()["errors"]["json"]


# -- a site's id is the id of its own sensor ------------------------------------


def test_a_site_cannot_take_the_id_of_a_sensor_its_org_cannot_have(owned, redis_client):
    assert owned.post("/data", json=[now_reading("alpha-plant-7")], headers=bearer(BETA_INGEST)).status_code == 200
    assert owned.post("/data", json=[now_reading("loose-7")], headers=bearer(ALL_INGEST)).status_code == 200
    answers = {site: create_site(owned, ALPHA_ADMIN, site) for site in ("alpha-plant-7", "loose-7")}
    assert {answer.status_code for answer in answers.values()} == {409}
    assert len({body_of(answer, site) for site, answer in answers.items()}) == 1
    assert "betacorp" not in answers["alpha-plant-7"].get_data(as_text=True)
    assert not redis_client.exists(keys.site("alpha-plant-7"), keys.site("loose-7"))
    # An all-orgs admin cannot give the site to an org whose sensor it is not either.
    assert create_site(owned, ALL_ADMIN, "alpha-plant-7", org="alphacorp").status_code == 409
    # Nor by first sight of a reading with a sensor of its own.
    first_sight = thermometer(owned, ALPHA_INGEST, "alpha-plant-7", "alphacorp", sensorId="a-thermo")
    assert first_sight.status_code == 409 and "alpha-plant-7" in str(first_sight.get_json()["errors"])
    assert not redis_client.exists(keys.site("alpha-plant-7"), keys.sensor_meta("a-thermo"))
    # The org's own sensor, or a fresh id, is fine.
    assert owned.post("/data", json=[now_reading("alpha-plant-8")], headers=bearer(ALPHA_INGEST)).status_code == 200
    assert create_site(owned, ALPHA_ADMIN, "alpha-plant-8").status_code == 201
    assert thermometer(owned, ALPHA_INGEST, "alpha-plant-8", "alphacorp").status_code == 200


def test_another_org_cannot_claim_the_id_of_a_site(owned, redis_client):
    assert create_site(owned, ALPHA_ADMIN, "alpha-plant-9").status_code == 201
    refused = owned.post("/data", json=[now_reading("alpha-plant-9")], headers=bearer(BETA_INGEST))
    assert refused.status_code == 404
    assert org_of(redis_client, "alpha-plant-9") is None
    assert thermometer(owned, ALPHA_INGEST, "alpha-plant-9", "alphacorp").status_code == 200


def test_a_site_moves_only_to_an_org_that_can_have_its_sensor(owned):
    assert create_site(owned, ALL_ADMIN, "moving").status_code == 201
    assert owned.post("/data", json=[now_reading("moving")], headers=bearer(BETA_INGEST)).status_code == 200
    refused = owned.patch("/v1/sites/moving", json={"org": "alphacorp"}, headers=bearer(ALL_ADMIN))
    assert refused.status_code == 409
    assert owned.get("/v1/sites/moving", headers=bearer(ALL_READ)).get_json()["org"] is None
    assert owned.patch("/v1/sites/moving", json={"org": "betacorp"}, headers=bearer(ALL_ADMIN)).status_code == 200


def test_a_reading_for_another_orgs_site_answers_the_documented_409_whatever_its_sensor_holds(owned):
    assert create_site(owned, ALPHA_ADMIN, "asite").status_code == 201
    assert create_site(owned, ALPHA_ADMIN, "asite-empty").status_code == 201
    # The site's own sensor holds data (alphacorp's).
    assert thermometer(owned, ALPHA_INGEST, "asite", "alphacorp").status_code == 200
    answers = {site: thermometer(owned, BETA_INGEST, site, "betacorp") for site in ("asite", "asite-empty")}
    assert {answer.status_code for answer in answers.values()} == {409}
    assert body_of(answers["asite"], "asite") == body_of(answers["asite-empty"], "asite-empty")
    assert answers["asite"].get_json()["errors"]["json"]["0"]["orgId"] == [
        "The site 'asite' is not a site of org 'betacorp'."]



def test_an_all_orgs_reading_of_an_orgs_sensor_at_another_orgs_site_does_not_put_it_on_that_site(owned):
    assert owned.put("/v1/sensors/alpha-t", json={"org": "alphacorp"}, headers=bearer(ALL_ADMIN)).status_code == 201
    assert create_site(owned, BETA_ADMIN, "beta-yard").status_code == 201
    assert thermometer(owned, ALL_INGEST, "beta-yard", "betacorp", sensorId="alpha-t").status_code == 200
    sensor = owned.get("/v1/sensors/alpha-t", headers=bearer(ALL_READ)).get_json()
    assert (sensor["org"], sensor["site"], sensor["kind"]) == ("alphacorp", None, "temperature")
    listed = owned.get("/v1/sensors?site=beta-yard", headers=bearer(ALL_READ)).get_json()["sensors"]
    assert "alpha-t" not in [s["id"] for s in listed]
