"""A query parameter the route does not know is a 422 naming it, in the one
error shape, and nothing is written: a misspelt ``?precison=ms`` or
``?bucket_size=1h`` must not be silently ignored. The line protocol routes
take what influx clients add (``rp``, ``consistency``, ...) and ignore it."""

from __future__ import annotations

import json

import pytest

READING = [{"sensor": "q-1", "timestamp": 1764496800, "value": 21.5}]


@pytest.mark.parametrize("path", [
    "/sensors?limit=10&bogus=1",
    "/sensors/changes?since=1&sinse=2",
    "/v1/sensors?bogus=1",
    "/v1/events?bogus=1",
    "/v1/series?sensors=q-1&bucket_size=1h",
    "/v1/admin/toohotornot?siteId=s1&day=2026-01-01",
])
def test_a_read_with_an_unknown_parameter_is_422_naming_it(client, path):
    answer = client.get(path)
    assert answer.status_code == 422, answer.data
    unknown = path.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]
    assert answer.json["errors"]["query"][unknown] == ["Unknown field."]
    assert answer.json["code"] == 422 and answer.json["message"]


def test_a_batch_with_a_misspelt_parameter_is_422_and_writes_nothing(client):
    answer = client.post("/data?precison=ms", json=READING)
    assert answer.status_code == 422
    assert answer.json["errors"]["query"] == {"precison": ["Unknown field."]}
    assert client.get("/statistics/q-1").json["count"] == 0
    assert client.post("/data?precision=s", json=READING).json["accepted"] == 1


def test_line_protocol_takes_the_parameters_influx_clients_add(client):
    line = b"readings,sensor=q-2 value=19.5 1764496800"
    answer = client.post("/write?db=x&rp=autogen&consistency=one&precision=s", data=line, content_type="text/plain")
    assert answer.status_code == 204, answer.data
    assert client.get("/statistics/q-2").json["count"] == 1


# -- routes that declare no query parameter refuse any --------------------------

UNKNOWN = "sensorhub_unknown"
PATH_VALUES = {"sensor_id": "q-1", "site_id": "site-1", "org_id": "orgq", "webhook_id": "w1",
               "dead_letter_id": "d1", "building": "B1", "room": "R1"}
# Probes ignore a query string (monitors add cache-busters); influx clients
# add parameters the line protocol routes take and ignore.
TAKING_ANY_QUERY = {"/healthz", "/livez", "/write", "/api/v2/write"}
METHODS = ("get", "put", "post", "patch", "delete")


def _api_operations() -> list[tuple[str, str]]:
    from service import create_app
    from service.settings import Settings

    offline = create_app(Settings(redis_url="redis://127.0.0.1:1/0", log_requests=False))
    paths = offline.test_client().get("/openapi.json").json["paths"]
    return [(method, path) for path, item in paths.items() if path not in TAKING_ANY_QUERY
            for method in item if method in METHODS]


@pytest.mark.parametrize(("method", "path"), _api_operations())
def test_every_api_operation_refuses_an_unknown_parameter_and_changes_nothing(client, redis_client, method, path):
    url = path.format(**PATH_VALUES)
    answer = client.open(f"{url}?{UNKNOWN}=1", method=method.upper(), json={})
    assert answer.status_code == 422, answer.data
    assert answer.json["errors"]["query"][UNKNOWN] == ["Unknown field."]
    assert set(answer.json) == {"code", "status", "message", "errors", "request_id"}
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize("url", [
    "/statistics/e-1?unit=F",
    "/v1/sites/site-1?expand=all",
    "/v1/orgs/orgq?verbose",
    "/v1/status?foo=1",
])
def test_a_read_without_query_parameters_names_every_unknown_one(client, url):
    answer = client.get(url + "&also=2")
    assert answer.status_code == 422
    assert set(answer.json["errors"]["query"]) == {url.split("?")[1].split("=")[0], "also"}
    assert answer.json["message"] == "The request is invalid."


def test_a_write_with_an_unknown_parameter_writes_nothing(client):
    reading = {"siteId": "site-1", "orgId": "orgq", "temperature": 21.0, "timestamp": 1764496800}
    answer = client.post("/v1/temperatures?foo=1", json=reading)
    assert answer.status_code == 422
    assert answer.json["message"] == "The request is invalid; nothing was written."
    assert client.get("/statistics/site-1").json["count"] == 0
    assert client.post("/v1/temperatures", json=reading).json["accepted"] == 1


def test_an_empty_query_string_is_no_parameter(client):
    assert client.get("/statistics/q-1?").status_code == 200
    assert client.get("/statistics/q-1?&").status_code == 200


@pytest.mark.parametrize("url", [
    "/healthz?_=1764496800", "/livez?cachebuster", "/?v=2", "/openapi.json?v=2", "/docs?v=2", "/metrics?v=2",
    "/dashboard/static/dashboard.js?v=2",
])
def test_probes_and_pages_outside_the_api_take_any_query(client, url):
    assert client.get(url).status_code in (200, 204)


def test_the_operations_document_the_422(client):
    paths = client.get("/openapi.json").json["paths"]
    for path, method in (("/statistics/{sensor_id}", "get"), ("/v1/status", "get"), ("/v1/temperatures", "post")):
        assert "422" in paths[path][method]["responses"], (method, path)


def test_a_client_without_a_valid_key_is_told_401_not_what_a_route_takes(make_app):
    from tests.auth.authkeys import ALPHA_READ, KEYS, bearer

    keyed = make_app(api_keys_text=json.dumps(KEYS)).test_client()
    assert keyed.get("/v1/status?foo=1").status_code == 401
    assert keyed.get("/v1/status?foo=1", headers=bearer(ALPHA_READ)).status_code == 403
    assert keyed.get("/statistics/q-1?foo=1", headers=bearer(ALPHA_READ)).status_code == 422
