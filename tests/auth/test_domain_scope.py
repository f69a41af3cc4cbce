"""Every domain keeps an org's keys to the org's sites, sensors, events and webhooks."""

from __future__ import annotations

import time

from .authkeys import (
    ALL_ADMIN,
    ALL_READ,
    ALPHA_ADMIN,
    ALPHA_INGEST,
    ALPHA_READ,
    BETA_INGEST,
    BETA_READ,
    bearer,
    reading,
)


def temperature(site: str, org: str, value: float = 21.0) -> dict:
    return {"siteId": site, "orgId": org, "temperature": value, "timestamp": int(time.time()) - 60}


def test_an_org_key_never_sees_another_orgs_site(keyed):
    assert keyed.post("/v1/temperatures", json=temperature("beta-hq", "betacorp"), headers=bearer(BETA_INGEST)).status_code == 200
    foreign = keyed.get("/v1/admin/toohotornot?siteId=beta-hq", headers=bearer(ALPHA_READ))
    missing = keyed.get("/v1/admin/toohotornot?siteId=nowhere", headers=bearer(ALPHA_READ))
    assert foreign.status_code == missing.status_code == 404
    assert keyed.get("/v1/admin/toohotornot?siteId=beta-hq", headers=bearer(BETA_READ)).get_json()["orgId"] == "betacorp"
    assert keyed.get("/v1/sites/beta-hq", headers=bearer(ALPHA_READ)).status_code == 404
    assert keyed.get("/v1/sites/beta-hq", headers=bearer(BETA_READ)).status_code == 200
    assert keyed.get("/v1/sites/beta-hq/configuration/history", headers=bearer(ALPHA_READ)).status_code == 404
    assert keyed.patch("/v1/sites/beta-hq", json={"name": "Mine"}, headers=bearer(ALPHA_ADMIN)).status_code == 404


def test_an_ingest_key_cannot_post_readings_for_another_org(keyed, redis_client):
    response = keyed.post("/v1/temperatures", json=[temperature("a-hq", "alphacorp"), temperature("b-hq", "betacorp")],
                          headers=bearer(ALPHA_INGEST))
    assert response.status_code == 404
    assert redis_client.keys("*site*") == []


def test_site_listings_show_an_org_its_own_sites(keyed):
    keyed.post("/v1/temperatures", json=temperature("a-hq", "alphacorp"), headers=bearer(ALPHA_INGEST))
    keyed.post("/v1/temperatures", json=temperature("b-hq", "betacorp"), headers=bearer(BETA_INGEST))
    ids = lambda key, query="": [s["id"] for s in keyed.get(f"/v1/sites{query}", headers=bearer(key)).get_json()["sites"]]  # noqa: E731
    assert ids(ALPHA_READ) == ["a-hq"]
    assert sorted(ids(ALL_READ)) == ["a-hq", "b-hq"]
    assert keyed.get("/v1/sites?org=betacorp", headers=bearer(ALPHA_READ)).status_code == 404
    created = keyed.post("/v1/sites", json={"id": "a-lab", "name": "Lab", "location": "north"}, headers=bearer(ALPHA_ADMIN))
    assert created.status_code == 201 and created.get_json()["org"] == "alphacorp"


def test_org_settings_are_the_orgs_own(keyed):
    assert keyed.put("/v1/orgs/betacorp", json={"unit": "F"}, headers=bearer(ALPHA_ADMIN)).status_code == 404
    assert keyed.put("/v1/orgs/alphacorp", json={"unit": "F"}, headers=bearer(ALPHA_ADMIN)).status_code == 200
    assert keyed.get("/v1/orgs/alphacorp", headers=bearer(ALPHA_READ)).get_json()["unit"] == "F"
    assert keyed.get("/v1/orgs/alphacorp", headers=bearer(BETA_READ)).status_code == 404


def test_registry_and_windows_of_another_orgs_sensor_are_404(keyed):
    keyed.post("/data", json=[reading("b1")], headers=bearer(BETA_INGEST))
    for path in ["/v1/sensors/b1", "/v1/sensors/b1/aggregate?window=15m", "/v1/sensors/b1/series?start=2021-11-08T00:00:00Z"]:
        assert keyed.get(path, headers=bearer(ALPHA_READ)).status_code == 404, path
    assert keyed.get("/v1/sensors/b1", headers=bearer(BETA_READ)).status_code == 200
    assert keyed.put("/v1/sensors/b1", json={"kind": "temperature"}, headers=bearer(ALPHA_ADMIN)).status_code == 404
    listed = keyed.get("/v1/sensors", headers=bearer(ALPHA_READ)).get_json()["sensors"]
    assert [s["id"] for s in listed] == []
    keyed.post("/data", json=[reading("a1")], headers=bearer(ALPHA_INGEST))
    listed = keyed.get("/v1/sensors", headers=bearer(ALPHA_READ)).get_json()["sensors"]
    assert [(s["id"], s["org"], s["registered"]) for s in listed] == [("a1", "alphacorp", False)]


def test_webhooks_and_events_of_an_org_key_are_its_orgs(make_app):
    keyed = make_app(webhook_allow_private=True).test_client()
    made = keyed.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "secret": "s" * 16},
                      headers=bearer(ALPHA_ADMIN))
    assert made.status_code == 201 and made.get_json()["org"] == "alphacorp"
    other = keyed.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/all", "secret": "s" * 16}, headers=bearer(ALL_ADMIN))
    assert other.get_json()["org"] is None
    assert [w["id"] for w in keyed.get("/v1/webhooks", headers=bearer(ALPHA_ADMIN)).get_json()["webhooks"]] == [made.get_json()["id"]]
    assert keyed.get(f"/v1/webhooks/{other.get_json()['id']}", headers=bearer(ALPHA_ADMIN)).status_code == 404
    assert keyed.delete(f"/v1/webhooks/{other.get_json()['id']}", headers=bearer(ALPHA_ADMIN)).status_code == 404
    assert keyed.get("/v1/events?org=betacorp", headers=bearer(ALPHA_READ)).status_code == 404
    assert keyed.get("/v1/events", headers=bearer(ALPHA_READ)).status_code == 200
    assert keyed.get("/sensors", headers=bearer(ALPHA_READ)).get_json()["sensors"] == []
    assert keyed.get("/", headers={}).status_code == 200
