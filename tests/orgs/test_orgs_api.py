"""PUT/GET /v1/orgs/<org>."""

from __future__ import annotations


def test_unknown_org_is_404(client):
    assert client.get("/v1/orgs/nobody").status_code == 404


def test_put_fills_defaults_and_get_returns_it(client):
    response = client.put("/v1/orgs/alphacorp", json={"threshold": 24})
    assert response.status_code == 200
    body = client.get("/v1/orgs/alphacorp").json
    assert {k: body[k] for k in ("id", "unit", "timezone", "threshold")} == {
        "id": "alphacorp", "unit": "C", "timezone": "Europe/Brussels", "threshold": 24.0,
    }
    client.put("/v1/orgs/alphacorp", json={"unit": "F"})
    assert client.get("/v1/orgs/alphacorp").json["threshold"] == 25.0


def test_org_known_by_its_sites_answers_defaults(client):
    client.post("/v1/temperatures", json={"siteId": "s", "orgId": "o", "temperature": 20, "timestamp": 1658739178})
    body = client.get("/v1/orgs/o").json
    assert (body["unit"], body["updated_at"]) == ("C", None)


def test_invalid_settings_are_422_listing_every_field(client, redis_client):
    response = client.put("/v1/orgs/alphacorp", json={"unit": "R", "timezone": "Mars/Olympus", "threshold": -300})
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"unit", "timezone", "threshold"}
    assert redis_client.dbsize() == 0


def test_invalid_org_id_is_400(client):
    assert client.put("/v1/orgs/a%20b", json={"unit": "F"}).status_code == 400


def test_unit_change_reaches_registered_sensors_without_a_unit(client):
    client.put("/v1/sensors/t1", json={"kind": "temperature", "org": "uscorp"})
    client.put("/v1/orgs/uscorp", json={"unit": "F"})
    assert client.get("/v1/sensors/t1").json["input_unit"] == "F"
