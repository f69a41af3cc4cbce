"""A value with no finite equivalent in some unit of its kind is refused
(422, by item and field) on every write route; reads never answer inf
(null in JSON) for a stored value."""

from __future__ import annotations

import math
import sys

import pytest

from service import keys, units

from ..sensors.support import MINUTE_US, hour_start_us, iso, post, reading
from ..toohot.conftest import reading as hot_reading

TOO_LARGE = "Too large"


def test_1e308_celsius_for_a_fahrenheit_sensor_is_422_by_item_and_field(client, redis_client):
    client.put("/v1/sensors/us", json={"kind": "temperature", "unit": "F"})
    at = hour_start_us()
    body = post(client, reading("us", at, 20.0, "C"), reading("us", at + 1, 1e308, "C"), status=422)
    assert list(body["errors"]["json"]) == ["1"]
    assert body["errors"]["json"]["1"]["value"][0].startswith(TOO_LARGE)
    assert not redis_client.exists(keys.sensor("us"))


@pytest.mark.parametrize(
    ("value", "unit"),
    [(1e308, "C"), (sys.float_info.max, "F"), (2e307, "C"), (1e308, "K"), (1e308, None)],
)
def test_temperatures_too_large_for_some_unit_are_422(client, redis_client, value, unit):
    """With a unit (checked while parsing) or without (in the sensor's unit)."""
    client.put("/v1/sensors/t", json={"kind": "temperature"})
    at = hour_start_us()
    body = post(client, reading("t", at, 21.5), reading("t", at + 1, value, unit), status=422)
    assert list(body["errors"]["json"]) == ["1"] and list(body["errors"]["json"]["1"]) == ["value"]
    assert not redis_client.exists(keys.sensor("t"))


def test_the_largest_temperatures_accepted_are_shown_in_every_unit(client):
    client.put("/v1/sensors/t", json={"kind": "temperature", "unit": "F"})
    at = hour_start_us()
    post(client, reading("t", at, 1.9e307, "C"), reading("t", at + 1, 1.9e307, "C"))
    for unit in ("C", "F", "K"):
        stats = client.get("/v1/sensors/t", query_string={"unit": unit}).get_json()["statistics"]
        assert math.isfinite(stats["avg"]) and math.isfinite(stats["last_value"])
    assert client.get("/statistics/t").get_json()["avg"] == 1.9e307


def test_a_huge_value_stored_before_its_sensor_had_a_kind_saturates_instead_of_null(client):
    at = hour_start_us()
    post(client, reading("late", at, 1e308), reading("late", at + 1, 1e308))
    client.put("/v1/sensors/late", json={"kind": "temperature", "unit": "F"})
    stats = client.get("/v1/sensors/late", query_string={"unit": "F"}).get_json()["statistics"]
    assert stats["avg"] == stats["last_value"] == sys.float_info.max
    body = client.get(
        "/v1/sensors/late/aggregate", query_string={"window": "15m", "end": iso(at + MINUTE_US), "unit": "F"}
    ).get_json()
    assert body["avg"] == body["min"] == body["max"] == sys.float_info.max


def test_a_room_reading_too_large_is_422_by_item_and_field(client, redis_client):
    end = hour_start_us()
    items = [{"value": 20.0, "timestamp": (end - MINUTE_US) / 1e6}, {"value": 1e308, "timestamp": (end - 2 * MINUTE_US) / 1e6}]
    response = client.post("/v1/buildings/B1/rooms/R1/temperatures", json=items)
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]
    assert list(errors) == ["1"] and errors["1"]["value"][0].startswith(TOO_LARGE)
    assert not redis_client.exists(keys.sensor("room.B1.R1"))


@pytest.mark.parametrize("unit", ["C", "F", "K"])
def test_a_thermometer_value_too_large_is_422_by_item_and_field(client, redis_client, unit):
    response = client.post("/v1/temperatures", json=[hot_reading(), hot_reading(temperature=1e308, unit=unit)])
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]["json"]
    assert list(errors) == ["1"] and list(errors["1"]) == ["temperature"]
    assert redis_client.dbsize() == 0


def test_every_accepted_canonical_value_is_finite_in_every_unit():
    for kind in units.KINDS.values():
        for value in (1e300, 1.9e307, 2e307, 1e308, sys.float_info.max, -sys.float_info.max):
            if units.bounds_error(value, kind.name) is None:
                assert all(math.isfinite(units.from_canonical(value, unit)) for unit in kind.units)


def test_a_threshold_too_large_for_fahrenheit_is_422_by_field(client, redis_client):
    """Org and site thresholds are in C and shown in the org's unit."""
    response = client.put("/v1/orgs/acme", json={"unit": "F", "threshold": 1e308})
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"]["threshold"][0].startswith(TOO_LARGE)
    site = {"id": "hq", "name": "HQ", "location": "Brussels", "threshold": 1e308}
    response = client.post("/v1/sites", json=site)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]["json"]) == ["threshold"]
    assert redis_client.dbsize() == 0
    assert client.put("/v1/orgs/acme", json={"unit": "F", "threshold": 1.9e307}).status_code == 200
