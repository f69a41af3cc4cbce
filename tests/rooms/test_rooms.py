"""Rooms: POST a room's temperatures, GET its trailing average."""

from __future__ import annotations

import pytest

from service import keys

from ..sensors.support import MINUTE_US, hour_start_us, iso

SECOND_US = 1_000_000


def post_room(client, building, room, body, status=200):
    response = client.post(f"/v1/buildings/{building}/rooms/{room}/temperatures", json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def average(client, building, room, end_us, window="15m", status=200, **params):
    response = client.get(
        f"/v1/buildings/{building}/rooms/{room}/average", query_string={"window": window, "end": iso(end_us), **params}
    )
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_one_reading_goes_to_the_rooms_own_sensor_which_is_registered_there(client):
    end = hour_start_us()
    body = post_room(client, "B1", "R1", {"value": 21.0, "timestamp": (end - MINUTE_US) / 1e6})
    assert body == {"accepted": 1, "duplicates": 0, "sensors": ["room.B1.R1"]}
    sensor = client.get("/v1/sensors/room.B1.R1").get_json()
    assert (sensor["building"], sensor["room"], sensor["kind"]) == ("B1", "R1", "temperature")


def test_average_covers_every_reading_of_every_sensor_of_the_room(client):
    end = hour_start_us()
    post_room(
        client,
        "B1",
        "R1",
        [
            {"value": 20.0, "timestamp": iso(end - 10 * MINUTE_US), "sensor": "a"},
            {"value": 22.0, "timestamp": iso(end - 5 * MINUTE_US), "sensor": "a"},
            {"value": 24.0, "timestamp": (end - 2 * MINUTE_US) / 1e6, "sensor": "b"},
            {"value": 99.0, "timestamp": iso(end - 20 * MINUTE_US), "sensor": "b"},
        ],
    )
    body = average(client, "B1", "R1", end)
    assert (body["avg"], body["count"], body["sensors"], body["unit"]) == (22.0, 3, ["a", "b"], "C")
    assert body["window"]["seconds"] == 900


def test_other_rooms_and_buildings_never_leak_in(client):
    end = hour_start_us()
    at = (end - MINUTE_US) / 1e6
    post_room(client, "B1", "R1", {"value": 20.0, "timestamp": at})
    post_room(client, "B1", "R2", {"value": 30.0, "timestamp": at})
    post_room(client, "B2", "R1", {"value": 40.0, "timestamp": at})
    post_room(client, "B1", "R10", {"value": 50.0, "timestamp": at})
    client.post("/data", json=[{"sensor": "loose", "timestamp": iso(end - MINUTE_US), "value": 60.0}])
    assert average(client, "B1", "R1", end)["avg"] == 20.0
    assert average(client, "B2", "R1", end)["avg"] == 40.0


def test_empty_window_answers_avg_null_count_0(client):
    end = hour_start_us()
    post_room(client, "B1", "R1", {"value": 20.0, "timestamp": (end - 30 * MINUTE_US) / 1e6})
    assert average(client, "B1", "R1", end) | {"window": None} == {
        "building": "B1", "room": "R1", "window": None, "unit": "C", "avg": None, "count": 0, "sensors": []
    }
    assert average(client, "B9", "R9", end)["count"] == 0


def test_duplicates_count_once_and_late_readings_land_in_their_window(client):
    end = hour_start_us()
    reading = {"value": 20.0, "timestamp": (end - 3 * MINUTE_US) / 1e6}
    post_room(client, "B1", "R1", reading)
    late = {"value": 26.0, "timestamp": iso(end - 14 * MINUTE_US).replace("Z", "+00:00")}
    assert post_room(client, "B1", "R1", [reading, late]) == {"accepted": 1, "duplicates": 1, "sensors": ["room.B1.R1"]}
    body = average(client, "B1", "R1", end)
    assert (body["avg"], body["count"]) == (23.0, 2)


@pytest.mark.parametrize(("value", "unit"), [(-274, "C"), (-460, "F"), (-1, "K"), (-273.5, None)])
def test_below_absolute_zero_is_422_and_nothing_is_written(client, redis_client, value, unit):
    end = hour_start_us()
    good = {"value": 20.0, "timestamp": (end - MINUTE_US) / 1e6}
    bad = {"value": value, "timestamp": (end - 2 * MINUTE_US) / 1e6, **({"unit": unit} if unit else {})}
    body = post_room(client, "B1", "R1", [good, bad], status=422)
    assert list(body["errors"]["json"]) == ["1"] and "absolute zero" in body["errors"]["json"]["1"]["value"][0]
    assert not redis_client.exists(keys.sensor("room.B1.R1"), keys.sensor_meta("room.B1.R1"))
    assert redis_client.scard(keys.sensors_in_room("B1", "R1")) == 0


def test_units_convert_in_and_out(client):
    end = hour_start_us()
    post_room(
        client,
        "B1",
        "R1",
        [
            {"value": 212, "unit": "F", "timestamp": (end - MINUTE_US) / 1e6},
            {"value": 273.15, "unit": "K", "timestamp": (end - 2 * MINUTE_US) / 1e6},
        ],
    )
    assert average(client, "B1", "R1", end)["avg"] == 50.0
    body = average(client, "B1", "R1", end, unit="F")
    assert (body["avg"], body["unit"]) == (122.0, "F")
    assert average(client, "B1", "R1", end, unit="%", status=422)


def test_a_sensor_declared_in_fahrenheit_is_converted(client):
    client.put("/v1/sensors/us", json={"kind": "temperature", "unit": "F", "building": "B1", "room": "R1"})
    end = hour_start_us()
    post_room(client, "B1", "R1", {"value": 212, "timestamp": (end - MINUTE_US) / 1e6, "sensor": "us"})
    assert average(client, "B1", "R1", end)["avg"] == 100.0


def test_a_sensor_of_another_room_or_kind_is_409_and_nothing_is_written(client, redis_client):
    client.put("/v1/sensors/elsewhere", json={"building": "B2", "room": "R1"})
    client.put("/v1/sensors/damp", json={"kind": "humidity"})
    end = hour_start_us()
    for sensor in ("elsewhere", "damp"):
        post_room(client, "B1", "R1", [{"value": 20.0, "timestamp": (end - MINUTE_US) / 1e6, "sensor": sensor}], status=409)
        assert not redis_client.exists(keys.sensor(sensor))
    assert redis_client.scard(keys.sensors_in_room("B1", "R1")) == 0


@pytest.mark.parametrize("placed", [{}, {"building": "B1"}])
def test_a_registered_sensor_without_a_room_joins_it(client, placed):
    client.put("/v1/sensors/spare", json={"org": "acme", **placed})
    end = hour_start_us()
    post_room(client, "B1", "R1", {"value": 20.0, "timestamp": (end - MINUTE_US) / 1e6, "sensor": "spare"})
    sensor = client.get("/v1/sensors/spare").get_json()
    assert (sensor["org"], sensor["building"], sensor["room"], sensor["kind"]) == ("acme", "B1", "R1", "temperature")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timestamp": 1658739178}, "value"),
        ({"value": 20}, "timestamp"),
        ({"value": "20", "timestamp": 1658739178}, "value"),
        ({"value": 20, "timestamp": "2022-07-25T09:12:58"}, "timestamp"),
        ({"value": 20, "timestamp": 1e300}, "timestamp"),
        ({"value": 20, "timestamp": 2**63 - 1}, "timestamp"),
        ({"value": 20, "timestamp": 1658739178, "unit": "%"}, "unit"),
        ({"value": 20, "timestamp": 1658739178, "sensor": "a b"}, "sensor"),
        ({"value": 20, "timestamp": 1658739178, "room": "R2"}, "room"),
    ],
)
def test_invalid_reading_is_422_by_field(client, body, field):
    assert field in post_room(client, "B1", "R1", body, status=422)["errors"]["json"]


def test_invalid_building_or_room_is_400_and_a_body_not_json_is_refused(client):
    post_room(client, "B.1", "R1", {"value": 1, "timestamp": 1}, status=400)
    post_room(client, "B1", "R:1", {"value": 1, "timestamp": 1}, status=400)
    post_room(client, "B1", "R1", "twenty", status=400)
    response = client.post("/v1/buildings/B1/rooms/R1/temperatures", data="x", content_type="text/plain")
    assert response.status_code == 415


def test_a_sensor_moved_out_of_the_room_stops_counting(client):
    end = hour_start_us()
    post_room(client, "B1", "R1", {"value": 20.0, "timestamp": (end - MINUTE_US) / 1e6, "sensor": "m"})
    client.put("/v1/sensors/m", json={"building": "B1", "room": "R2", "kind": "temperature"})
    assert average(client, "B1", "R1", end)["count"] == 0
    assert average(client, "B1", "R2", end)["count"] == 1


def test_sensors_joining_or_leaving_between_two_averages_are_seen_at_once(client):
    end = hour_start_us()
    at = (end - MINUTE_US) / 1e6
    post_room(client, "B1", "R1", {"value": 20.0, "timestamp": at, "sensor": "first"})
    assert average(client, "B1", "R1", end)["sensors"] == ["first"]
    post_room(client, "B1", "R1", {"value": 30.0, "timestamp": at, "sensor": "second"})
    assert average(client, "B1", "R1", end)["sensors"] == ["first", "second"]
    client.put("/v1/sensors/first", json={"building": "B2", "room": "R1", "kind": "temperature"})
    body = average(client, "B1", "R1", end)
    assert (body["sensors"], body["avg"]) == (["second"], 30.0)


def test_a_rooms_own_sensor_is_refused_in_another_room_and_nothing_is_written(client, redis_client):
    end = hour_start_us()
    body = post_room(client, "B7", "R7", [{"value": 13.0, "timestamp": (end - MINUTE_US) / 1e6},
                                          {"value": 13.0, "timestamp": (end - MINUTE_US) / 1e6, "sensor": "room.B8.R8"}],
                     status=422)
    assert list(body["errors"]["json"]) == ["1"]
    assert "room.B8.R8" in body["errors"]["json"]["1"]["sensor"][0]
    assert not redis_client.exists(keys.sensor("room.B7.R7"), keys.sensor_meta("room.B8.R8"), keys.sensor("room.B8.R8"))
    # Its own room takes it, and the registry keeps it there.
    assert post_room(client, "B8", "R8", {"value": 14.0, "timestamp": (end - MINUTE_US) / 1e6})["sensors"] == ["room.B8.R8"]
    moved = client.put("/v1/sensors/room.B8.R8", json={"building": "B7", "room": "R7", "kind": "temperature"})
    assert moved.status_code == 422 and "building" in moved.get_json()["errors"]["json"]
    kept = client.put("/v1/sensors/room.B8.R8", json={"building": "B8", "room": "R8", "kind": "temperature", "name": "R8"})
    assert kept.status_code == 200


def test_a_room_post_says_and_counts_readings_no_query_will_show(make_app):
    from datetime import UTC, datetime, timedelta

    from prometheus_client.parser import text_string_to_metric_families

    client = make_app(rollups=()).test_client()  # no history: older than RETENTION is beyond every query
    old = int((datetime.now(UTC) - timedelta(days=3)).timestamp())
    recent = int(datetime.now(UTC).timestamp()) - 60
    body = client.post("/v1/buildings/B9/rooms/R9/temperatures",
                       json=[{"value": 20.0, "timestamp": old}, {"value": 21.0, "timestamp": recent}]).get_json()
    assert (body["accepted"], body["expired"]) == (2, 1)
    assert "expired" not in client.post("/v1/buildings/B9/rooms/R9/temperatures",
                                        json={"value": 22.0, "timestamp": recent + 1}).get_json()
    samples = [sample for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
               if family.name == "sensorhub_readings_expired" for sample in family.samples
               if sample.labels.get("route") == "rooms.post_temperatures"]
    assert samples and samples[0].value >= 1
