"""A sensor first heard through too hot or not is labelled with what its
metadata lacks (kind temperature, its reading's site, its org's unit) and
listed by those labels; what a registration already says always wins, and
the registry's index sets agree with the sensor's metadata."""

from __future__ import annotations

import time

from service import keys


def _listed(client, **filters) -> list[str]:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return [sensor["id"] for sensor in client.get(f"/v1/sensors?{query}").json["sensors"]]


def _reading(site: str, sensor: str) -> dict:
    return {"siteId": site, "orgId": "acme", "sensorId": sensor, "temperature": 21.5, "timestamp": time.time()}


def test_an_unregistered_sensor_is_labelled_with_the_site_of_its_first_reading(client):
    assert client.post("/v1/temperatures", json=_reading("hq", "t-new")).status_code == 200
    assert _listed(client, site="hq") == ["t-new"]
    assert _listed(client, kind="temperature") == ["t-new"]
    assert client.get("/v1/sensors/t-new").json["site"] == "hq"


def test_a_sensor_registered_under_a_site_is_not_listed_under_another_sites_reading(client, redis_client):
    assert client.put("/v1/sensors/t-lab", json={"org": "acme", "site": "lab"}).status_code == 201
    assert client.post("/v1/temperatures", json=_reading("hq", "t-lab")).status_code == 200
    registered = client.get("/v1/sensors/t-lab").json
    assert (registered["site"], registered["kind"]) == ("lab", "temperature")  # the missing kind is filled in
    assert _listed(client, site="lab") == ["t-lab"]
    assert _listed(client, site="hq") == []
    assert _listed(client, kind="temperature") == ["t-lab"]
    # Not even a stray member of the other site's index, for listings to skip.
    assert b"t-lab" not in redis_client.smembers(keys.sensors_by("site", "hq"))
