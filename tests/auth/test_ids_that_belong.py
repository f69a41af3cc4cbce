"""Ids that say whose they are: a sensor's site is a site of its org, a
room's own sensor id is its room's org's, a site's id is the id of the
sensor its readings go to."""

from __future__ import annotations

import time

import pytest

from service import keys

from .authkeys import (
    ALL_ADMIN,
    ALL_READ,
    ALPHA_ADMIN,
    ALPHA_INGEST,
    ALPHA_READ,
    BETA_INGEST,
    BETA_READ,
    KEYS,
    bearer,
)
from .test_ownership import body_of

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

