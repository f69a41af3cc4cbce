"""PUT/GET /v1/sites/<id>/configuration: validation, versions, history and ``at``."""

from __future__ import annotations

import copy

import pytest

from service import keys
from service.stores import stores

CONFIG = {
    "id": "willo",
    "battery": {"vendor": "Tesla", "capacity_kwh": 3100, "max_power_kw": 400},
    "production": {"pv": {"units": 1, "kwp": 500}, "bio": {"units": 0}, "cro": {"units": 2, "kwp": 800}},
}


def changed(path: str, value):
    """CONFIG with one field (dotted path) set; value DELETE removes it."""
    document = copy.deepcopy(CONFIG)
    *parents, last = path.split(".")
    node = document
    for name in parents:
        node = node[name]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return document


DELETE = object()


@pytest.fixture
def site(make_site):
    return make_site("willo")


def put(client, document, site_id="willo"):
    return client.put(f"/v1/sites/{site_id}/configuration", json=document)


def test_a_sites_first_configuration_is_version_1(client, site):
    response = put(client, CONFIG)
    assert response.status_code == 201
    body = response.json
    assert (body["site"], body["version"]) == ("willo", 1)
    assert body["configuration"] == {k: v for k, v in CONFIG.items() if k != "id"}
    assert client.get("/v1/sites/willo/configuration").json == body


def test_a_numeric_id_matches_the_site_of_that_number(client, make_site):
    make_site("1")
    assert put(client, changed("id", 1), "1").status_code == 201


def test_id_is_optional_but_must_be_the_sites(client, site):
    assert put(client, changed("id", DELETE)).status_code == 201
    response = put(client, changed("id", "other"))
    assert response.status_code == 422
    assert "id" in response.json["errors"]["json"]


def test_same_document_again_creates_no_version(client, site):
    first = put(client, CONFIG).json
    again = put(client, changed("battery.capacity_kwh", 3100.0))
    assert again.status_code == 200
    assert again.json == first
    assert len(client.get("/v1/sites/willo/configuration/history").json["versions"]) == 1


def test_each_change_is_a_new_version_and_history_keeps_all(client, site):
    v1 = put(client, CONFIG).json
    v2 = put(client, changed("battery.vendor", "KATL")).json
    v3 = put(client, CONFIG).json
    assert [v["version"] for v in (v1, v2, v3)] == [1, 2, 3]
    assert v1["valid_from"] < v2["valid_from"] < v3["valid_from"]
    history = client.get("/v1/sites/willo/configuration/history").json
    assert history["versions"] == [v1, v2, v3]
    assert client.get("/v1/sites/willo/configuration").json == v3


def test_at_answers_the_version_in_force_then(client, site, app):
    store = stores(app).sites
    store.configure("willo", changed("id", DELETE), now_us=1_600_000_000_000_000)
    katl = changed("battery.vendor", "KATL")
    del katl["id"]
    store.configure("willo", katl, now_us=1_700_000_000_000_000)

    def vendor_at(at):
        response = client.get("/v1/sites/willo/configuration", query_string={"at": at})
        return response.status_code, response.json

    status, body = vendor_at("2020-09-13T12:26:40Z")  # exactly 1_600_000_000 s
    assert (status, body["version"], body["configuration"]["battery"]["vendor"]) == (200, 1, "Tesla")
    status, body = vendor_at("2023-11-14T22:13:19.999999Z")  # 1 us before version 2
    assert (status, body["version"]) == (200, 1)
    status, body = vendor_at("2023-11-15T00:13:20+01:00")  # version 2 in another offset
    assert (status, body["version"]) == (200, 2)
    status, body = vendor_at("2020-09-13T12:26:39Z")
    assert status == 404
    assert "no configuration" in body["message"]


def test_valid_from_stays_ordered_when_the_clock_goes_back(app, site):
    store = stores(app).sites
    _, first = store.configure("willo", {"a": 1}, now_us=2_000_000)
    _, second = store.configure("willo", {"a": 2}, now_us=1_000_000)
    assert second["valid_from_us"] == first["valid_from_us"] + 1


def test_at_must_have_an_offset(client, site):
    response = client.get("/v1/sites/willo/configuration?at=2023-01-01T00:00:00")
    assert response.status_code == 422
    assert "at" in response.json["errors"]["query"]


def test_no_configuration_yet_is_404(client, site):
    response = client.get("/v1/sites/willo/configuration")
    assert response.status_code == 404
    assert client.get("/v1/sites/willo/configuration/history").json["versions"] == []


def test_unknown_site_is_404_and_nothing_is_stored(client, redis_client):
    assert put(client, changed("id", DELETE), "ghost").status_code == 404
    assert client.get("/v1/sites/ghost/configuration").status_code == 404
    assert client.get("/v1/sites/ghost/configuration?at=2023-01-01T00:00:00Z").status_code == 404
    assert client.get("/v1/sites/ghost/configuration/history").status_code == 404
    assert redis_client.exists(keys.site("ghost"), keys.site_configurations("ghost")) == 0


@pytest.mark.parametrize(
    ("path", "value", "accepted"),
    [
        ("battery.vendor", "Tesla", True),
        ("battery.vendor", "KATL", True),
        ("battery.vendor", "tesla", False),
        ("battery.vendor", "TESLA", False),
        ("battery.vendor", "katl", False),
        ("battery.vendor", "Katl", False),
        ("battery.vendor", "LG", False),
        ("battery.vendor", 1, False),
        ("battery.capacity_kwh", 0, True),
        ("battery.capacity_kwh", -1, False),
        ("battery.capacity_kwh", -0.001, False),
        ("battery.capacity_kwh", "3100", False),
        ("battery.capacity_kwh", True, False),
        ("battery.capacity_kwh", None, False),
        ("battery.max_power_kw", 0, True),
        ("battery.max_power_kw", -1, False),
        ("production.pv.units", 0, True),
        ("production.pv.units", -1, False),
        ("production.pv.units", 1.5, False),
        ("production.pv.units", 1.0, False),
        ("production.pv.units", "1", False),
        ("production.pv.units", True, False),
        ("production.bio.units", -1, False),
        ("production.cro.units", -1, False),
        ("production.pv.kwp", 0, True),
        ("production.pv.kwp", -1, False),
        ("production.cro.kwp", -0.5, False),
        ("production.pv.kwp", DELETE, True),
        ("production.pv.units", DELETE, False),
        ("production.bio", DELETE, False),
        ("battery.vendor", DELETE, False),
        ("battery", DELETE, False),
        ("production", DELETE, False),
        ("battery.chemistry", "LFP", False),
        ("production.wind", {"units": 1}, False),
        ("colour", "red", False),
    ],
)
def test_configuration_rule_at_its_boundary(client, site, redis_client, path, value, accepted):
    response = put(client, changed(path, value))
    if accepted:
        assert response.status_code == 201, response.json
        return
    assert response.status_code == 422, response.json
    node = response.json["errors"]["json"]
    for name in path.split("."):
        assert name in node, response.json
        node = node[name]
    assert redis_client.exists(keys.site_configurations("willo")) == 0


def test_every_problem_is_listed_at_once(client, site):
    document = changed("battery.vendor", "tesla")
    document["battery"]["capacity_kwh"] = -1
    document["production"]["pv"]["units"] = -1
    document["production"]["cro"]["kwp"] = -5
    document["extra"] = 1
    errors = put(client, document).json["errors"]["json"]
    assert set(errors["battery"]) == {"vendor", "capacity_kwh"}
    assert errors["production"] == {"pv": {"units": errors["production"]["pv"]["units"]}, "cro": {"kwp": errors["production"]["cro"]["kwp"]}}
    assert "extra" in errors
    assert "exact case" in errors["battery"]["vendor"][0]


def test_a_rejected_change_keeps_the_current_version(client, site):
    put(client, CONFIG)
    assert put(client, changed("battery.capacity_kwh", -1)).status_code == 422
    current = client.get("/v1/sites/willo/configuration").json
    assert (current["version"], current["configuration"]["battery"]["capacity_kwh"]) == (1, 3100)
