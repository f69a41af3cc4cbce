"""POST /data and the line protocol writes (POST /api/v2/write, POST /write)
take one way into the readings store: on each, another org's sensor answers
404 and nothing is written, a unit its sensor's kind refuses is refused in
the route's own shape, and readings stored beyond every time query's reach
are counted as expired in the metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service import keys

from ..auth.authkeys import ALPHA_INGEST, ALPHA_READ, BETA_INGEST, KEYS, bearer

# Route -> its endpoint, the route label of its metrics.
ENDPOINTS = {"/data": "readings.post_data", "/api/v2/write": "lineproto.write_v2", "/write": "lineproto.write_v1"}


def write(client, route: str, readings: list[tuple], headers: dict | None = None):
    """Post (sensor, instant, value, unit or None) readings on ``route``, in
    its own body: a POST /data batch, or one line a reading."""
    if route == "/data":
        items = [
            {"sensor": sensor, "timestamp": at.isoformat(), "value": value, **({"unit": unit} if unit else {})}
            for sensor, at, value, unit in readings
        ]
        return client.post(route, json=items, headers=headers)
    lines = [
        f"m,sensor={sensor}{f',unit={unit}' if unit else ''} value={value} {int(at.timestamp())}"
        for sensor, at, value, unit in readings
    ]
    return client.post(f"{route}?precision=s", data="\n".join(lines), headers=headers)


def counted(client, metric: str, route: str, **labels) -> float:
    """The samples of ``metric`` for ``route``'s endpoint (and ``labels``)."""
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric
        and sample.labels.get("route") == ENDPOINTS[route]
        and all(sample.labels.get(name) == value for name, value in labels.items())
    )


NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def keyed(make_app):
    return make_app(api_keys_text=json.dumps(KEYS)).test_client()


@pytest.mark.parametrize("route", list(ENDPOINTS))
def test_another_orgs_sensor_is_404_on_every_route_and_nothing_is_written(keyed, redis_client, route):
    assert write(keyed, "/data", [("a-1", NOW, 20, None)], bearer(ALPHA_INGEST)).status_code == 200
    rejected = counted(keyed, "sensorhub_readings_total", route, outcome="rejected")
    response = write(keyed, route, [("b-new", NOW, 1, None), ("a-1", NOW + timedelta(seconds=1), 99, None)],
                     bearer(BETA_INGEST))
    assert response.status_code == 404
    message = response.get_json()["message"]
    assert "a-1" in message and "b-new" not in message and "Nothing was written" in message
    assert keyed.get("/statistics/a-1", headers=bearer(ALPHA_READ)).get_json()["count"] == 1
    # Not even the claim of the sensor of no org.
    assert not redis_client.exists(keys.sensor_meta("b-new"), keys.sensor("b-new"))
    assert counted(keyed, "sensorhub_readings_total", route, outcome="rejected") - rejected == 2


def test_a_unit_its_sensor_refuses_is_422_by_item_on_post_data(client):
    assert client.put("/v1/sensors/h-1", json={"kind": "humidity"}).status_code in (200, 201)
    response = write(client, "/data", [("h-1", NOW, 40, None), ("h-1", NOW + timedelta(seconds=1), 20, "C")])
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"json": {"1": {"unit": ["C is not a unit of humidity; use one of: %."]}}}
    assert client.get("/statistics/h-1").get_json()["count"] == 0


@pytest.mark.parametrize("route", ["/api/v2/write", "/write"])
def test_a_unit_its_sensor_refuses_is_400_naming_the_line_on_the_line_protocol(client, route):
    assert client.put("/v1/sensors/h-1", json={"kind": "humidity"}).status_code in (200, 201)
    rejected = counted(client, "sensorhub_readings_total", route, outcome="rejected")
    response = write(client, route, [("h-1", NOW, 40, None), ("h-1", NOW + timedelta(seconds=1), 20, "C")])
    assert response.status_code == 400
    body = response.get_json()
    assert "(line 2)" in body["message"] and "nothing was written" in body["message"]
    assert list(body["errors"]["body"]) == ["2"]
    assert "C is not a unit of humidity" in body["errors"]["body"]["2"][0]
    assert client.get("/statistics/h-1").get_json()["count"] == 0
    assert counted(client, "sensorhub_readings_total", route, outcome="rejected") - rejected == 2


@pytest.mark.parametrize("route", list(ENDPOINTS))
def test_expired_readings_are_counted_in_the_metrics_on_every_route(make_app, route):
    # No history tiers: a reading older than RETENTION (2 days) is beyond every query.
    client = make_app(rollups=()).test_client()
    before = {outcome: counted(client, "sensorhub_readings_total", route, outcome=outcome)
              for outcome in ("accepted", "duplicate")}
    expired = counted(client, "sensorhub_readings_expired_total", route)
    old = NOW - timedelta(days=3)
    response = write(client, route, [("e-1", old, 1, None), ("e-1", old, 1, None), ("e-1", NOW, 2, None)])
    if route == "/data":
        assert response.get_json() == {"accepted": 2, "duplicates": 1, "expired": 2}
    else:
        assert response.status_code == 204 and response.data == b""  # InfluxDB's answer, no count in it
    # Among the accepted and duplicate readings, not beside them.
    assert counted(client, "sensorhub_readings_expired_total", route) - expired == 2
    assert counted(client, "sensorhub_readings_total", route, outcome="accepted") - before["accepted"] == 2
    assert counted(client, "sensorhub_readings_total", route, outcome="duplicate") - before["duplicate"] == 1


@pytest.mark.parametrize("route", list(ENDPOINTS))
def test_readings_queries_reach_are_not_counted_as_expired(client, route):
    expired = counted(client, "sensorhub_readings_expired_total", route)
    assert write(client, route, [("e-2", NOW, 1, None)]).status_code in (200, 204)
    assert counted(client, "sensorhub_readings_expired_total", route) == expired
