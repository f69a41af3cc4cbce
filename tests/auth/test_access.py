"""Who may call what: open mode, 401, 403, exempt paths, the OpenAPI document."""

from __future__ import annotations

import logging

import pytest
from flask import request

from service import create_app
from service.auth import listing_org, public, require_all_orgs, requires
from service.auth.guard import undeclared_endpoints
from service.stores import stores

from .authkeys import ALL_ADMIN, ALL_INGEST, ALL_READ, ALPHA_READ, KEYS, bearer, reading

EXEMPT = ["/healthz", "/livez", "/metrics", "/openapi.json", "/docs"]


def test_open_mode_serves_batch_ingest_and_statistics_without_a_key(client):
    assert client.post("/data", json=[reading("abc", 1, 21.5), reading("abc", 2, 22.5)]).get_json() == {
        "accepted": 2,
        "duplicates": 0,
    }
    assert client.get("/statistics/abc").get_json()["count"] == 2
    assert client.delete("/statistics/abc").status_code == 204
    assert client.get("/statistics/abc").get_json()["count"] == 0


def test_open_mode_is_announced_with_a_warning_at_start(settings, clean_redis, caplog):
    with caplog.at_level(logging.WARNING, logger="sensorhub.auth"):
        app = create_app(settings)
    stores(app).client.close()
    assert any("no API keys configured" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/data"), ("GET", "/statistics/abc"), ("DELETE", "/statistics/abc")]
)
def test_a_request_without_a_key_is_refused_with_401(keyed, method, path):
    response = keyed.open(path, method=method, json=[reading("abc")])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="sensorhub"'
    body = response.get_json()
    assert body["code"] == 401 and "Authorization: Bearer" in body["message"] and body["request_id"]


@pytest.mark.parametrize(
    "headers",
    [
        bearer("ak_not_a_configured_key_000000"),
        {"X-API-Key": "ak_not_a_configured_key_000000"},
        {"Authorization": f"Bearer {ALL_READ}x"},
        {"Authorization": f"Basic {ALL_READ}"},
    ],
    ids=["bearer", "x-api-key", "longer", "basic-scheme"],
)
def test_an_unknown_key_is_refused_with_401(keyed, headers):
    response = keyed.get("/statistics/abc", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="sensorhub"')


def test_two_different_keys_in_one_request_are_refused(keyed):
    response = keyed.get("/statistics/abc", headers={**bearer(ALL_READ), "X-API-Key": ALL_ADMIN})
    assert response.status_code == 401
    assert keyed.get("/statistics/abc", headers={**bearer(ALL_READ), "X-API-Key": ALL_READ}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        bearer(ALL_READ),
        {"X-API-Key": ALL_READ},
        {"Authorization": f"bearer  {ALL_READ} "},
        # The scheme InfluxDB clients and Telegraf send.
        {"Authorization": f"Token {ALL_READ}"},
    ],
)
def test_a_key_is_accepted_in_either_header(keyed, headers):
    assert keyed.get("/statistics/abc", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("key", "method", "path", "status"),
    [
        (ALL_INGEST, "POST", "/data", 200),
        (ALL_READ, "POST", "/data", 403),
        (ALL_ADMIN, "POST", "/data", 200),
        (ALL_INGEST, "GET", "/statistics/abc", 403),
        (ALL_READ, "GET", "/statistics/abc", 200),
        (ALL_ADMIN, "GET", "/statistics/abc", 200),
        (ALL_INGEST, "DELETE", "/statistics/abc", 403),
        (ALL_READ, "DELETE", "/statistics/abc", 403),
        (ALL_ADMIN, "DELETE", "/statistics/abc", 204),
    ],
)
def test_roles_ingest_writes_read_reads_admin_does_all(keyed, key, method, path, status):
    response = keyed.open(path, method=method, json=[reading("abc")], headers=bearer(key))
    assert response.status_code == status
    if status == 403:
        assert KEYS[key]["role"] in response.get_json()["message"]


def test_a_refused_request_writes_nothing(keyed, redis_client):
    assert keyed.post("/data", json=[reading("abc")], headers=bearer(ALL_READ)).status_code == 403
    assert keyed.post("/data", json=[reading("abc")]).status_code == 401
    assert redis_client.keys("*") == []


@pytest.mark.parametrize("path", EXEMPT)
def test_probes_metrics_and_api_description_need_no_key(keyed, path):
    assert keyed.get(path).status_code in (200, 204)


@pytest.mark.parametrize("path", ["/static/dashboard.js", "/dashboard/static/app.js"])
def test_static_files_need_no_key(keyed, path):
    # No file of that name: the answer is the plain 404, not a request for a key.
    assert keyed.get(path).status_code == 404


def test_unknown_routes_reveal_nothing_without_a_key(keyed):
    assert keyed.get("/no/such/route").status_code == 401
    assert keyed.get("/no/such/route", headers=bearer(ALL_READ)).status_code == 404
    assert keyed.put("/data", headers=bearer(ALL_READ)).status_code == 405


def test_a_route_without_a_declared_role_needs_an_admin_key(make_app):
    app = make_app()
    app.add_url_rule("/undeclared", "undeclared", lambda: "undeclared")
    assert "GET /undeclared" in undeclared_endpoints(app)
    client = app.test_client()
    assert client.get("/undeclared", headers=bearer(ALL_READ)).status_code == 403
    assert client.get("/undeclared", headers=bearer(ALL_ADMIN)).status_code == 200


def test_public_and_declared_views_follow_their_declaration(make_app):
    app = make_app()
    app.add_url_rule("/open-page", "open_page", public(lambda: "page"))
    app.add_url_rule("/read-page", "read_page", requires("read")(lambda: "read"))
    client = app.test_client()
    assert client.get("/open-page").status_code == 200
    assert client.get("/read-page").status_code == 401
    assert client.get("/read-page", headers=bearer(ALL_READ)).status_code == 200
    assert {"GET /open-page", "GET /read-page"}.isdisjoint(undeclared_endpoints(app))


def test_an_unknown_role_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown role"):
        requires("write")


def test_openapi_declares_the_keys_an_operation_needs(keyed):
    spec = keyed.get("/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path, method, role in [("/data", "post", "ingest"), ("/statistics/{sensor_id}", "get", "read"),
                               ("/statistics/{sensor_id}", "delete", "admin")]:
        operation = spec["paths"][path][method]
        assert operation["x-required-role"] == role
        assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
        assert {"401", "403"} <= set(operation["responses"])
        assert "429" not in operation["responses"]  # no key has a rate limit
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_openapi_of_open_mode_asks_for_no_key(client):
    spec = client.get("/openapi.json").get_json()
    assert "securitySchemes" not in spec["components"]
    assert all("security" not in operation for item in spec["paths"].values() for operation in item.values()
               if isinstance(operation, dict))


def test_listings_show_an_org_key_its_own_org_only(make_app):
    def listing():
        return {"org": listing_org(request.args.get("org"))}

    app = make_app()
    app.add_url_rule("/listing", "listing", requires("read")(listing))
    client = app.test_client()
    assert client.get("/listing", headers=bearer(ALL_READ)).get_json() == {"org": None}
    assert client.get("/listing?org=betacorp", headers=bearer(ALL_READ)).get_json() == {"org": "betacorp"}
    assert client.get("/listing", headers=bearer(ALPHA_READ)).get_json() == {"org": "alphacorp"}
    assert client.get("/listing?org=alphacorp", headers=bearer(ALPHA_READ)).get_json() == {"org": "alphacorp"}
    assert client.get("/listing?org=betacorp", headers=bearer(ALPHA_READ)).status_code == 404
    assert client.get("/listing?org=nosuchorg", headers=bearer(ALPHA_READ)).status_code == 404


def test_cross_org_views_can_demand_an_all_orgs_key(make_app):
    def overview():
        require_all_orgs()
        return "everything"

    app = make_app()
    app.add_url_rule("/overview", "overview", requires("read")(overview))
    client = app.test_client()
    assert client.get("/overview", headers=bearer(ALL_READ)).status_code == 200
    refused = client.get("/overview", headers=bearer(ALPHA_READ))
    assert refused.status_code == 403 and "all orgs" in refused.get_json()["message"]
