"""POST/GET /heartbeat and GET /sensors on real Redis."""

from __future__ import annotations

import time

import pytest

from service import keys
from service.stores import stores


def test_heartbeat_registers_sensor_under_normalised_mac(client):
    answer = client.post("/heartbeat", json={"mac_address": "02-AB-00-00-00-0F"})
    assert answer.status_code == 200
    assert answer.json["sensor"] == "02:ab:00:00:00:0f"
    assert answer.json["status"] == "online"
    sensors = client.get("/sensors").json["sensors"]
    assert [s["id"] for s in sensors] == ["02:ab:00:00:00:0f"]
    assert sensors[0]["status"] == "online"
    assert sensors[0]["mac_address"] == "02:ab:00:00:00:0f"
    assert sensors[0]["last_heartbeat"] is not None


def test_same_mac_in_any_spelling_is_one_sensor(client):
    for spelling in ("02:AB:cd:00:00:01", "02-ab-CD-00-00-01", "02:ab:cd:00:00:01"):
        assert client.post("/heartbeat", json={"mac_address": spelling}).status_code == 200
    assert client.get("/sensors").json["total"] == 1


def test_get_heartbeat_records_like_post(client):
    answer = client.get("/heartbeat?mac_address=02:00:00:00:00:07")
    assert answer.status_code == 200
    assert answer.json["sensor"] == "02:00:00:00:00:07"
    assert client.get("/sensors").json["sensors"][0]["id"] == "02:00:00:00:00:07"


@pytest.mark.parametrize(
    "mac",
    [
        "02:00:00:00:00", "02:00:00:00:00:00:00", "02:00-00:00:00:00", "zz:00:00:00:00:00",
        "0200.0000.0000", "020000000000", "", " 02:00:00:00:00:00", "02:00:00:00:00:00\n", 42, None, ["02:00:00:00:00:00"],
    ],
)
def test_invalid_mac_is_rejected_and_nothing_written(client, clean_redis, mac):
    answer = client.post("/heartbeat", json={"mac_address": mac})
    assert answer.status_code == 422
    assert "mac_address" in answer.json["errors"]["json"]
    assert clean_redis.dbsize() == 0


def test_heartbeat_without_mac_or_with_extra_fields_is_rejected(client, clean_redis):
    assert client.post("/heartbeat", json={}).status_code == 422
    assert client.post("/heartbeat", json={"mac_address": "02:00:00:00:00:00", "x": 1}).status_code == 422
    assert client.get("/heartbeat").status_code == 422
    assert clean_redis.dbsize() == 0


def test_a_reading_is_a_sign_of_life_with_its_last_value(client):
    client.post("/data", json=[{"sensor": "t-1", "timestamp": "2021-11-08T22:38:09+01:00", "value": 21.5}])
    sensor = client.get("/sensors").json["sensors"][0]
    assert sensor["id"] == "t-1"
    assert sensor["status"] == "online"
    assert sensor["last_heartbeat"] is None
    assert sensor["last_reading"] == {"at": "2021-11-08T22:38:09+01:00", "value": 21.5, "unit": None}


def test_status_is_offline_once_silent_for_offline_after(app, client):
    store = stores(app).heartbeats
    now = time.time()
    store.heartbeat("02:00:00:00:00:01", now=now - store.offline_after - 1)
    store.heartbeat("02:00:00:00:00:02", now=now)
    status = {s["id"]: s["status"] for s in client.get("/sensors").json["sensors"]}
    assert status == {"02:00:00:00:00:01": "offline", "02:00:00:00:00:02": "online"}


def test_registry_metadata_is_shown_when_present(client, clean_redis):
    client.post("/heartbeat", json={"mac_address": "02:00:00:00:00:03"})
    clean_redis.hset(keys.sensor_meta("02:00:00:00:00:03"), mapping={"org": "acme", "site": "hq", "room": "lab", "unit": "C"})
    client.post("/heartbeat", json={"mac_address": "02:00:00:00:00:04"})
    clean_redis.set(keys.sensor_meta("02:00:00:00:00:04"), '{"org": "beta", "name": "door"}')
    sensors = {s["id"]: s for s in client.get("/sensors").json["sensors"]}
    assert (sensors["02:00:00:00:00:03"]["org"], sensors["02:00:00:00:00:03"]["room"]) == ("acme", "lab")
    assert (sensors["02:00:00:00:00:04"]["org"], sensors["02:00:00:00:00:04"]["name"]) == ("beta", "door")


def test_sensor_list_pages_with_cursor(client):
    for n in range(5):
        client.post("/heartbeat", json={"mac_address": f"02:00:00:00:00:1{n}"})
    first = client.get("/sensors?limit=3").json
    second = client.get(f"/sensors?limit=3&cursor={first['next_cursor']}").json
    assert len(first["sensors"]) == 3 and len(second["sensors"]) == 2
    assert second["next_cursor"] is None
    assert {s["id"] for s in first["sensors"] + second["sensors"]} == {f"02:00:00:00:00:1{n}" for n in range(5)}


def test_the_pages_after_the_first_follow_its_ranking_while_a_new_first_page_ranks_afresh(client):
    # Ranking reads every sensor id: the first page ranks, the next pages of
    # the same listing reuse it for a few seconds (each page one snapshot).
    for n in range(4):
        client.post("/heartbeat", json={"mac_address": f"02:00:00:00:00:2{n}"})
    first = client.get("/sensors?limit=2").json
    client.post("/heartbeat", json={"mac_address": "02:00:00:00:00:29"})  # now the most recently heard
    second = client.get(f"/sensors?limit=2&cursor={first['next_cursor']}").json
    listed = [s["id"] for s in first["sensors"] + second["sensors"]]
    assert sorted(listed) == [f"02:00:00:00:00:2{n}" for n in range(4)]  # none twice, none skipped
    assert (first["total"], second["total"]) == (4, 4)
    again = client.get("/sensors?limit=2").json
    assert again["sensors"][0]["id"] == "02:00:00:00:00:29" and again["total"] == 5
