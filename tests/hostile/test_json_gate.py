"""One JSON gate for every route with a body.

Every operation the OpenAPI document gives a request body (and every route
of the URL map that takes POST, PUT or PATCH is one of them, or listed in
BODILESS) reads it as POST /data does: 415 unless declared JSON, 400 when
empty, not JSON, nested too deeply or repeating a key, 413 over
MAX_BODY_BYTES; before any schema runs, and writing nothing. A new route
with a body is in the table as soon as it is documented; it needs a valid
example in VALID_BODIES, and the test says so.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import time

import flask_smorest
import orjson
import pytest

from service import create_app, jsonio
from service.stores import stores

ORG, SITE, SENSOR = "acme", "site-1", "t-1"
PATH_VALUES = {"org_id": ORG, "site_id": SITE, "sensor_id": SENSOR, "building": "B1", "room": "R1"}
CONFIGURATION = {
    "battery": {"vendor": "Tesla", "capacity_kwh": 3100, "max_power_kw": 400},
    "production": {"pv": {"units": 1, "kwp": 500}, "bio": {"units": 0}, "cro": {"units": 2, "kwp": 800}},
}
ORG_SETTINGS = {"unit": "F", "timezone": "America/New_York", "threshold": 30}
SENSOR_METADATA = {
    "org": ORG, "site": SITE, "building": "B1", "room": "R1",
    "kind": "temperature", "unit": "F", "mac": "00:1a:2b:3c:4d:5e", "name": "Lobby",
}
# Routes taking POST, PUT or PATCH without a body.
BODILESS = {"POST /v1/webhooks/dead-letters/{dead_letter_id}/replay"}


def _live_body() -> dict:
    day = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).date().isoformat()
    return {
        "dt-stamp": [f"{day} 00:00:00"], "soc": [40], "load_kwh": [350], "net_load_kwh": [400],
        "pv_notification": [True], "bio_notification": [False], "cro_notification": [False],
    }


def valid_bodies() -> dict:
    """A body each route accepts (2xx), by operation."""
    now = int(time.time())
    return {
        "POST /data": [{"sensor": "t-2", "timestamp": "2024-01-01T00:00:00Z", "value": 1.0}],
        "PUT /v1/sensors/{sensor_id}": {**SENSOR_METADATA, "name": "Hall"},
        "POST /v1/buildings/{building}/rooms/{room}/temperatures": {"value": 21.5, "timestamp": now},
        "POST /v1/sites": {"name": "Site Two", "location": "south"},
        "PATCH /v1/sites/{site_id}": {"name": "Renamed"},
        "PUT /v1/sites/{site_id}/configuration": {**CONFIGURATION, "battery": {**CONFIGURATION["battery"], "vendor": "KATL"}},
        "POST /v1/sites/{site_id}/live": _live_body(),
        "PUT /v1/orgs/{org_id}": {"threshold": 28},
        "POST /v1/temperatures": {"siteId": SITE, "orgId": ORG, "temperature": 20, "timestamp": now},
        "POST /heartbeat": {"mac_address": "02-00-00-00-00-0A"},
        "POST /v1/webhooks": {"url": "http://127.0.0.1:9999/hooks", "secret": "at-least-16-chars", "types": ["sensor.offline"]},
    }


def _documented_bodies(app, media_type: str = "application/json") -> list[str]:
    document = app.test_client().get("/openapi.json").json
    return sorted(
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and media_type in operation.get("requestBody", {}).get("content", {})
    )


def _offline_app():
    from service.settings import Settings

    return create_app(Settings(redis_url="redis://127.0.0.1:1/0", log_requests=False, log_level="ERROR"))


OPERATIONS = _documented_bodies(_offline_app())
# Bodies that are not JSON (line protocol writes: tests/lineproto); the body
# gate in front of every route still holds them to MAX_BODY_BYTES.
TEXT_OPERATIONS = _documented_bodies(_offline_app(), "text/plain")


@pytest.fixture
def app(settings, clean_redis):
    # A receiver on this machine, as the docs' webhook example.
    app = create_app(dataclasses.replace(settings, webhook_allow_private=True))
    app.config["TESTING"] = True
    yield app
    stores(app).client.close()


@pytest.fixture
def seeded(client):
    """An org, a site of it with a configuration, and a registered sensor."""
    assert client.put(f"/v1/orgs/{ORG}", json=ORG_SETTINGS).status_code == 200
    site = {"id": SITE, "name": "Site One", "location": "north", "org": ORG}
    assert client.post("/v1/sites", json=site).status_code == 201
    assert client.put(f"/v1/sites/{SITE}/configuration", json=CONFIGURATION).status_code == 201
    assert client.put(f"/v1/sensors/{SENSOR}", json=SENSOR_METADATA).status_code == 201


def snapshot(redis_client) -> dict:
    """Every key with its serialized value."""
    return {key: redis_client.dump(key) for key in redis_client.scan_iter(count=1000)}


def _url(operation: str) -> tuple[str, str]:
    method, path = operation.split(" ", 1)
    return method, re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "x1"), path)


def _repeating_a_key(document) -> bytes:
    """``document`` as JSON, its first object repeating its first key."""
    first = document if isinstance(document, dict) else document[0]
    key, value = next(iter(first.items()))
    return orjson.dumps(document).replace(b"{", b"{" + orjson.dumps(key) + b":" + orjson.dumps(value) + b",", 1)


JSON = "application/json"
# name: (body from the operation's valid body and MAX_BODY_BYTES, Content-Type, status, message start)
HOSTILE = {
    "deep array nesting": (lambda valid, limit: b"[" * 100_000 + b"]" * 100_000, JSON, 400, "The request body"),
    "deep object nesting": (lambda valid, limit: b'{"a":' * 5000 + b"1" + b"}" * 5000, JSON, 400, "The request body"),
    "nesting just over the parser's limit": (lambda valid, limit: b"[" * 1025 + b"]" * 1025, JSON, 400, "The request body"),
    # Deeper than the repeated-key check's parser goes (POST /data takes the
    # object as a lone reading and refuses its unknown field first: below).
    "nesting with an escape": (lambda valid, limit: b'{"a":' * 1000 + b'"\\n"' + b"}" * 1000, JSON, 400, ""),
    "not JSON": (lambda valid, limit: orjson.dumps(valid)[:-1], JSON, 400, "The request body is not valid JSON"),
    "NaN literal": (lambda valid, limit: b'{"a": NaN}', JSON, 400, "The request body is not valid JSON"),
    "repeated key": (lambda valid, limit: _repeating_a_key(valid), JSON, 400, "The request body repeats a key"),
    "empty": (lambda valid, limit: b"", JSON, 400, "The request body is empty"),
    "whitespace only": (lambda valid, limit: b" \n", JSON, 400, "The request body is not valid JSON"),
    "text/plain": (lambda valid, limit: orjson.dumps(valid), "text/plain", 415, "Send the body as application/json"),
    "form": (lambda valid, limit: b"name=x", "application/x-www-form-urlencoded", 415, "Send the body as application/json"),
    "no Content-Type, no body": (lambda valid, limit: b"", None, 415, "Send the body as application/json"),
    "over MAX_BODY_BYTES": (lambda valid, limit: orjson.dumps(valid).ljust(limit + 1), JSON, 413, ""),
}


# Where an operation answers a hostile body otherwise: (case, operation) -> (status, message start).
HOSTILE_ELSEWHERE = {
    ("nesting with an escape", "POST /data"): (422, "1 of 1 readings are invalid"),
}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_every_route_taking_a_body_is_documented_with_one(app):
    routes = {
        f"{method} {_openapi_path(rule.rule)}"
        for rule in app.url_map.iter_rules()
        for method in rule.methods & {"POST", "PUT", "PATCH"}
    }
    assert routes - BODILESS == set(OPERATIONS) | set(TEXT_OPERATIONS)


def test_every_route_with_a_body_has_a_valid_example():
    assert set(valid_bodies()) == set(OPERATIONS)


def test_every_blueprint_reads_json_through_the_gate(app):
    for blueprint in app.blueprints.values():
        if isinstance(blueprint, flask_smorest.Blueprint):
            assert isinstance(blueprint, jsonio.Blueprint), blueprint.name
            assert isinstance(blueprint.ARGUMENTS_PARSER, jsonio.StrictJsonParser), blueprint.name


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_valid_example_is_accepted(client, seeded, operation):
    method, url = _url(operation)
    response = client.open(url, method=method, json=valid_bodies()[operation])
    assert 200 <= response.status_code < 300, (response.status_code, response.get_json())


@pytest.mark.parametrize("case", HOSTILE, ids=HOSTILE)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_hostile_body_is_a_clear_4xx_and_changes_nothing(app, client, seeded, redis_client, operation, case):
    make_body, content_type, status, message = HOSTILE[case]
    status, message = HOSTILE_ELSEWHERE.get((case, operation), (status, message))
    method, url = _url(operation)
    body = make_body(valid_bodies()[operation], stores(app).settings.max_body_bytes)
    before = snapshot(redis_client)
    response = client.open(url, method=method, data=body, headers={"Content-Type": content_type} if content_type else {})
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    payload = response.get_json()
    assert payload["code"] == status
    assert payload["message"].startswith(message), payload["message"]
    assert snapshot(redis_client) == before


def test_the_gate_is_documented_on_every_operation_with_a_body(client):
    document = client.get("/openapi.json").json
    for operation in OPERATIONS:
        method, path = operation.split(" ", 1)
        responses = document["paths"][path][method.lower()]["responses"]
        assert {"400", "413", "415", "422"} <= set(responses), operation
        assert document["paths"][path][method.lower()]["requestBody"]["content"][JSON]["schema"], operation


# -- a PUT replaces only with a body that says so ------------------------------

NOT_A_REPLACEMENT = {
    "empty body": (b"", JSON, 400),
    "no body, no Content-Type": (b"", None, 415),
    "text/plain": (b'{"name": "x"}', "text/plain", 415),
    "an empty object": (b"{}", JSON, 422),
    "a mistyped field": (b'{"nmae": "x"}', JSON, 422),
    "a mistyped field sent null": (b'{"nmae": null}', JSON, 422),
    "null": (b"null", JSON, 422),
}


@pytest.mark.parametrize("body,content_type,status", NOT_A_REPLACEMENT.values(), ids=NOT_A_REPLACEMENT)
@pytest.mark.parametrize("url", [f"/v1/orgs/{ORG}", f"/v1/sensors/{SENSOR}"])
def test_put_without_a_replacement_resets_nothing(client, seeded, redis_client, url, body, content_type, status):
    before, state = snapshot(redis_client), client.get(url).json
    response = client.put(url, data=body, headers={"Content-Type": content_type} if content_type else {})
    assert response.status_code == status, (response.status_code, response.get_json())
    assert snapshot(redis_client) == before
    assert client.get(url).json == state


def test_an_empty_object_names_what_to_send(client, seeded):
    response = client.put(f"/v1/orgs/{ORG}", json={})
    assert response.status_code == 422
    assert "null" in response.json["errors"]["json"]["_schema"][0]


def test_nulls_reset_an_org_explicitly(client, seeded):
    response = client.put(f"/v1/orgs/{ORG}", json={"unit": None, "timezone": None, "threshold": None})
    assert response.status_code == 200
    assert {k: response.json[k] for k in ("unit", "timezone", "threshold")} == {
        "unit": "C", "timezone": "Europe/Brussels", "threshold": 25.0,
    }


def test_nulls_clear_a_sensor_explicitly(client, seeded):
    response = client.put(f"/v1/sensors/{SENSOR}", json={"org": ORG, "kind": "temperature", "mac": None, "name": None})
    assert response.status_code == 200
    body = response.json
    assert (body["org"], body["kind"], body["mac"], body["name"], body["room"]) == (ORG, "temperature", None, None, None)
    # The MAC address is free again.
    assert client.put("/v1/sensors/t-9", json={"mac": SENSOR_METADATA["mac"]}).status_code == 201
