"""Status, last heartbeat and last reading in GET /sensors and in the
registry (GET /v1/sensors, GET /v1/sensors/<id>): one definition, the same
answer for the same sensor at the same time."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from service import keys
from service.stores import stores

NOW = 1_800_000_000.0  # a fixed "now" (2027-01-15T08:00:00Z) for every module reading time.time()


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)
    return NOW


def by_id(sensors: list[dict]) -> dict[str, dict]:
    return {sensor["id"]: sensor for sensor in sensors}


def test_registry_shows_status_last_heartbeat_and_last_reading(app, client):
    client.put("/v1/sensors/t-1", json={"org": "acme", "site": "hq", "kind": "temperature", "unit": "F"})
    client.post("/data", json=[{"sensor": "t-1", "timestamp": "2021-11-08T22:38:09+01:00", "value": 212}])
    stores(app).heartbeats.heartbeat("02:00:00:00:00:01")
    one = client.get("/v1/sensors/t-1").get_json()
    assert one["status"] == "online"
    heard, seen = (datetime.fromisoformat(one[f].replace("Z", "+00:00")) for f in ("last_heard", "last_seen"))
    assert abs((heard - seen).total_seconds()) < 0.001
    assert one["last_heartbeat"] is None
    assert one["last_reading"] == {"at": "2021-11-08T22:38:09+01:00", "value": 100.0, "unit": "C"}
    assert client.get("/v1/sensors/t-1?unit=F").get_json()["last_reading"]["value"] == 212.0
    listed = by_id(client.get("/v1/sensors").get_json()["sensors"])
    beating = listed["02:00:00:00:00:01"]
    assert (beating["status"], beating["last_reading"], beating["mac"]) == ("online", None, "02:00:00:00:00:01")
    assert beating["last_heartbeat"] == beating["last_heard"]


def test_a_registered_sensor_never_heard_of_is_offline_with_nothing_heard(client):
    client.put("/v1/sensors/quiet", json={"kind": "humidity"})
    body = client.get("/v1/sensors/quiet").get_json()
    assert (body["status"], body["last_heard"], body["last_heartbeat"], body["last_reading"]) == ("offline", None, None, None)


def test_sensors_and_registry_agree_on_status_at_the_offline_boundary(app, client, frozen):
    store = stores(app).heartbeats
    after = store.offline_after
    store.heartbeat("02:00:00:00:00:0a", now=frozen - after)  # silent exactly OFFLINE_AFTER: offline
    store.heartbeat("02:00:00:00:00:0b", now=frozen - after + 0.5)  # still online
    client.post("/data", json=[{"sensor": "r-1", "timestamp": "2021-11-08T21:00:00Z", "value": 20.5}])  # heard now
    client.put("/v1/sensors/r-1", json={"kind": "temperature", "site": "hq"})
    overview = by_id(client.get("/sensors").get_json()["sensors"])
    registry = by_id(client.get("/v1/sensors").get_json()["sensors"])
    assert {i: s["status"] for i, s in overview.items()} == {
        "02:00:00:00:00:0a": "offline", "02:00:00:00:00:0b": "online", "r-1": "online",
    }
    for sensor_id, shown in overview.items():
        listed = registry[sensor_id]
        single = client.get(f"/v1/sensors/{sensor_id}").get_json()
        for field in ("status", "last_heard", "last_heartbeat", "last_reading"):
            assert shown[field] == listed[field] == single[field], (sensor_id, field)


def test_sensors_overview_shows_the_last_value_in_the_sensors_own_unit(client, clean_redis):
    client.put("/v1/orgs/us", json={"unit": "F"})
    client.put("/v1/sensors/k-1", json={"kind": "temperature", "unit": "K"})
    client.put("/v1/sensors/f-1", json={"kind": "temperature", "org": "us"})  # the org's unit
    client.put("/v1/sensors/h-1", json={"kind": "humidity"})
    client.post("/data", json=[
        {"sensor": "k-1", "timestamp": "2021-11-08T21:00:00Z", "value": 300},
        {"sensor": "f-1", "timestamp": "2021-11-08T21:00:00Z", "value": 50},
        {"sensor": "h-1", "timestamp": "2021-11-08T21:00:00Z", "value": 40},
    ])
    overview = by_id(client.get("/sensors").get_json()["sensors"])
    assert overview["k-1"]["last_reading"]["unit"] == "K"
    assert overview["k-1"]["last_reading"]["value"] == pytest.approx(300)
    assert (overview["f-1"]["last_reading"]["value"], overview["f-1"]["last_reading"]["unit"]) == (pytest.approx(50), "F")
    assert (overview["h-1"]["last_reading"]["value"], overview["h-1"]["last_reading"]["unit"]) == (40.0, "%")
    # Stored canonical: the registry's default answer is in °C.
    assert round(float(clean_redis.hget(keys.sensor("k-1"), "last_value")), 2) == 26.85
    registry = client.get("/v1/sensors/k-1").get_json()["last_reading"]
    assert (round(registry["value"], 2), registry["unit"]) == (26.85, "C")


def test_a_value_sent_in_a_unit_is_shown_back_exactly_in_that_unit(client):
    # 20 F used to be stored as -6.666667 C and shown back as 19.999999 F.
    client.put("/v1/orgs/us", json={"unit": "F"})
    client.put("/v1/sensors/f-1", json={"kind": "temperature", "org": "us"})  # in the org's unit
    client.put("/v1/sensors/c-1", json={"kind": "temperature"})
    response = client.post("/data", json=[
        {"sensor": "f-1", "timestamp": "2021-11-08T21:00:00Z", "value": 20},
        {"sensor": "c-1", "timestamp": "2021-11-08T21:00:00Z", "value": 70.3, "unit": "F"},
    ])
    assert response.status_code == 200, response.get_json()
    overview = by_id(client.get("/sensors?unit=F").get_json()["sensors"])
    assert overview["f-1"]["last_reading"]["value"] == 20.0
    assert overview["c-1"]["last_reading"]["value"] == 70.3
    for sensor, value in (("f-1", 20.0), ("c-1", 70.3)):
        statistics = client.get(f"/v1/sensors/{sensor}?unit=F").get_json()["statistics"]
        assert (statistics["last_value"], statistics["avg"]) == (value, value)


def test_registry_page_is_read_in_one_round_trip(app, client, monkeypatch):
    for n in range(5):
        client.post("/heartbeat", json={"mac_address": f"02:00:00:00:00:1{n}"})
    registry = stores(app).sensors
    executed = []
    pipeline = registry.client.pipeline

    def counting_pipeline(*args, **kwargs):
        pipe = pipeline(*args, **kwargs)
        run = pipe.execute

        def execute(*a, **k):
            executed.append(len(pipe))
            return run(*a, **k)

        pipe.execute = execute
        return pipe

    monkeypatch.setattr(registry.client, "pipeline", counting_pipeline)
    described = registry.describe([f"02:00:00:00:00:1{n}" for n in range(5)])
    assert [d["status"] for d in described] == ["online"] * 5
    assert executed == [5 * 4]  # one pipeline: metadata, statistics, last heard, heartbeat per sensor
