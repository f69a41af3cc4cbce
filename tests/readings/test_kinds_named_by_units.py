"""A sensor of no kind whose readings name a unit takes that unit's kind:
its answers then name their unit and convert on asking, and nothing stored
is read otherwise. On POST /data and the line protocol alike; a
registration's kind always wins, and units of two kinds label nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .test_intake import write

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize("route", ["/data", "/api/v2/write", "/write"])
def test_a_sensor_first_heard_with_a_unit_is_of_its_kind_and_answers_in_its_unit(client, route):
    assert write(client, route, [("fsend", NOW - timedelta(minutes=2), 70.7, "F")]).status_code in (200, 204)
    # A reading sent without a unit afterwards is read as before: the number in °C.
    assert write(client, route, [("fsend", NOW - timedelta(minutes=1), 22.5, None)]).status_code in (200, 204)
    sensor = client.get("/v1/sensors/fsend").get_json()
    assert (sensor["kind"], sensor["input_unit"]) == ("temperature", "C")
    assert sensor["statistics"] == {**sensor["statistics"], "count": 2, "avg": 22.0, "unit": "C"}
    in_f = client.get("/v1/sensors/fsend?unit=F").get_json()
    assert in_f["statistics"]["unit"] == "F" and in_f["statistics"]["avg"] == pytest.approx(71.6)
    listed = {s["id"]: s for s in client.get("/sensors").get_json()["sensors"]}["fsend"]
    assert listed["last_reading"] == {**listed["last_reading"], "value": 22.5, "unit": "C"}
    assert [s["id"] for s in client.get("/v1/sensors?kind=temperature").get_json()["sensors"]] == ["fsend"]


def test_a_registered_kind_is_kept_whatever_unit_a_reading_names(client):
    assert client.put("/v1/sensors/hum-1", json={"kind": "humidity"}).status_code == 201
    refused = write(client, "/data", [("hum-1", NOW, 20.0, "C")])
    assert refused.status_code == 422
    assert client.get("/v1/sensors/hum-1").get_json()["kind"] == "humidity"


def test_readings_naming_units_of_two_kinds_label_nothing(client):
    assert write(client, "/data", [("mixed", NOW - timedelta(minutes=1), 20.0, "C"),
                                   ("mixed", NOW, 40.0, "%")]).status_code == 200
    assert client.get("/v1/sensors/mixed").get_json()["kind"] is None
