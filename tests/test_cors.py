"""CORS: pages of the origins in CORS_ORIGINS may call the API from a
browser; other pages get no CORS header; preflights pass the API-key guard
and nothing else does."""

from __future__ import annotations

import json

import pytest

from service.settings import Settings, SettingsError
from tests.auth.authkeys import ALL_INGEST, KEYS, bearer

DASHBOARD = "https://dash.example.com"
PREFLIGHT_OF_A_POST = {
    "Origin": DASHBOARD,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}
READING = [{"sensor": "s1", "timestamp": "2021-11-08T21:38:00Z", "value": 20.0}]


@pytest.fixture
def listed(make_app):
    """An app with API keys that allows one other origin."""
    return make_app(api_keys_text=json.dumps(KEYS), cors_origins=(DASHBOARD, "http://localhost:3000")).test_client()


def test_without_cors_origins_no_answer_has_a_cors_header(client):
    for response in (client.get("/healthz", headers={"Origin": DASHBOARD}),
                     client.options("/data", headers=PREFLIGHT_OF_A_POST)):
        assert not [name for name in response.headers.keys() if name.startswith("Access-Control-")]


def test_an_allowed_origin_may_read_the_answer_and_its_headers(listed):
    response = listed.post("/data", json=READING, headers={"Origin": DASHBOARD, **bearer(ALL_INGEST)})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = {name.strip().lower() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"retry-after", "x-request-id", "content-disposition", "www-authenticate", "etag"} <= exposed
    assert "Origin" in response.headers.getlist("Vary")  # beside Accept-Encoding


def test_an_error_answer_to_an_allowed_origin_is_readable_too(listed):
    response = listed.post("/data", json=READING, headers={"Origin": DASHBOARD})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD


def test_another_origin_gets_no_access_control_header(listed):
    response = listed.post("/data", json=READING, headers={"Origin": "https://evil.example.com", **bearer(ALL_INGEST)})
    assert response.status_code == 200  # CORS is not access control: the browser hides the answer
    assert "Access-Control-Allow-Origin" not in response.headers
    lookalike = listed.get("/healthz", headers={"Origin": DASHBOARD + ".evil.example.com"})
    assert "Access-Control-Allow-Origin" not in lookalike.headers


def test_a_preflight_for_a_write_route_passes_the_key_guard_and_writes_nothing(listed, redis_client):
    response = listed.options("/data", headers=PREFLIGHT_OF_A_POST)
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type"}
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert redis_client.dbsize() == 0


def test_only_a_preflight_of_an_allowed_origin_to_a_route_skips_the_key(listed):
    refused_origin = listed.options("/data", headers={**PREFLIGHT_OF_A_POST, "Origin": "https://evil.example.com"})
    plain_options = listed.options("/data", headers={"Origin": DASHBOARD})
    no_route = listed.options("/no/such/route", headers=PREFLIGHT_OF_A_POST)
    assert [refused_origin.status_code, plain_options.status_code, no_route.status_code] == [401, 401, 401]
    # The preflight answered the method it asked about, not the request itself.
    assert listed.post("/data", json=READING, headers=PREFLIGHT_OF_A_POST).status_code == 401


def test_any_origin_gets_the_wildcard_and_never_credentials(make_app):
    client = make_app(cors_origins=("*",)).test_client()
    response = client.get("/healthz", headers={"Origin": "https://anywhere.example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = client.options("/data", headers={**PREFLIGHT_OF_A_POST, "Origin": "https://anywhere.example.org"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    assert "Access-Control-Allow-Origin" not in client.get("/healthz").headers  # no Origin, no CORS


def test_cors_origins_are_checked_at_start():
    assert Settings.from_env({"CORS_ORIGINS": "https://Dash.example.com:443, http://10.0.0.5:3000"}).cors_origins == (
        "https://dash.example.com", "http://10.0.0.5:3000")
    assert Settings.from_env({"CORS_ORIGINS": "*"}).cors_origins == ("*",)
    assert Settings.from_env({}).cors_origins == ()
    for wrong in ("dash.example.com", "https://dash.example.com/", "https://dash.example.com/app",
                  "https://user@dash.example.com", "https://dash.example.com:99999", "*, https://dash.example.com"):
        with pytest.raises(SettingsError, match="CORS_ORIGINS"):
            Settings.from_env({"CORS_ORIGINS": wrong})
