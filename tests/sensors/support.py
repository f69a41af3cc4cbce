"""Small helpers shared by the registry, window and room tests."""

from __future__ import annotations

import time

from service import timeutil

MINUTE_US = 60 * 1_000_000


def hour_start_us(hours_ago: int = 1) -> int:
    """A whole UTC hour in the recent past: windows placed from it stay well
    inside the retention and away from "now"."""
    now = time.time_ns() // 1000
    return (now // (3600 * 1_000_000) - hours_ago) * 3600 * 1_000_000


def iso(us: int) -> str:
    return timeutil.us_to_iso(us)


def reading(sensor: str, us: int, value, unit: str | None = None) -> dict:
    item = {"sensor": sensor, "timestamp": iso(us), "value": value}
    if unit is not None:
        item["unit"] = unit
    return item


def post(client, *items, status: int = 200):
    response = client.post("/data", json=list(items))
    assert response.status_code == status, response.get_json()
    return response.get_json()


def aggregate(client, sensor: str, end_us: int, window: str = "15m", status: int = 200, **params):
    query = {"window": window, "end": iso(end_us), **params}
    response = client.get(f"/v1/sensors/{sensor}/aggregate", query_string=query)
    assert response.status_code == status, response.get_json()
    return response.get_json()
