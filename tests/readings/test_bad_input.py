"""Bad input to POST /data: a clear 4xx JSON error, and nothing written."""

from __future__ import annotations

import pytest

GOOD = {"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 1.0}


@pytest.fixture
def assert_nothing_written(redis_client):
    def check():
        assert redis_client.dbsize() == 0

    return check


def post_raw(client, body, content_type="application/json"):
    return client.post("/data", data=body, content_type=content_type)


@pytest.mark.parametrize(
    "item, field, message_part",
    [
        ({"timestamp": "2021-11-08T21:38:09Z", "value": 1}, "sensor", "Missing data"),
        ({"sensor": "s", "value": 1}, "timestamp", "Missing data"),
        ({"sensor": "s", "timestamp": "2021-11-08T21:38:09Z"}, "value", "Missing data"),
        ({**GOOD, "sensor": None}, "sensor", "may not be null"),
        ({**GOOD, "sensor": 42}, "sensor", "Not a valid string"),
        ({**GOOD, "sensor": ""}, "sensor", "1 to 128 characters"),
        ({**GOOD, "sensor": "a" * 129}, "sensor", "1 to 128 characters"),
        ({**GOOD, "sensor": "room {1}"}, "sensor", "1 to 128 characters"),
        ({**GOOD, "sensor": "ok\n"}, "sensor", "1 to 128 characters"),
        ({**GOOD, "timestamp": "2021-11-08T21:38:09"}, "timestamp", "no UTC offset"),
        ({**GOOD, "timestamp": "yesterday"}, "timestamp", "Not a valid ISO 8601"),
        ({**GOOD, "timestamp": [1636407489]}, "timestamp", "Not a valid timestamp"),
        ({**GOOD, "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp", "between 1970"),
        ({**GOOD, "timestamp": "9999-12-31T23:59:59Z"}, "timestamp", "between 1970"),
        ({**GOOD, "value": True}, "value", "Not a valid number"),
        ({**GOOD, "value": "21.5"}, "value", "Not a valid number"),
        ({**GOOD, "value": None}, "value", "may not be null"),
        ({**GOOD, "value": [1]}, "value", "Not a valid number"),
        ({**GOOD, "extra": 1}, "extra", "Unknown field"),
    ],
)
def test_invalid_item_rejects_the_whole_batch(client, assert_nothing_written, item, field, message_part):
    response = client.post("/data", json=[GOOD, item])
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity"
    assert "nothing" in body["message"]
    assert list(body["errors"]["json"]) == ["1"]
    assert message_part in " ".join(body["errors"]["json"]["1"][field])
    assert_nothing_written()


def test_every_problem_is_listed_by_index_and_field(client, assert_nothing_written):
    batch = [{"sensor": "a b", "timestamp": "nope", "value": "x"}, GOOD, 7, {"sensor": "ok", "timestamp": "2021-11-08T21:38:09Z"}]
    body = client.post("/data", json=batch).get_json()
    errors = body["errors"]["json"]
    assert set(errors) == {"0", "2", "3"}
    assert set(errors["0"]) == {"sensor", "timestamp", "value"}
    assert errors["2"] == {"_schema": ["Invalid input type."]}
    assert set(errors["3"]) == {"value"}
    assert body["message"].startswith("3 of 4 readings are invalid")
    assert_nothing_written()


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        (b"[{", "application/json", 400),
        (b"", "application/json", 400),
        (b'{"sensor": "s"}', "application/json", 422),  # a lone reading, missing fields
        (b'"just a string"', "application/json", 400),
        (b"[NaN]", "application/json", 400),
        (b'[{"sensor":"s","timestamp":"2021-11-08T21:38:09Z","value":Infinity}]', "application/json", 400),
        (b'[{"sensor":"s","timestamp":"2021-11-08T21:38:09Z","value":1e400}]', "application/json", 400),
        (b'["\xff"]', "application/json", 400),
        (b"[]", "text/plain", 415),
        (b"[]", "application/x-www-form-urlencoded", 415),
    ],
)
def test_malformed_bodies_get_a_json_error(client, assert_nothing_written, body, content_type, status):
    response = post_raw(client, body, content_type)
    assert response.status_code == status
    assert response.is_json
    assert response.get_json()["code"] == status
    assert_nothing_written()


def test_deeply_nested_json_is_400(client, assert_nothing_written):
    response = post_raw(client, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code in (400, 413)
    assert response.get_json()["code"] == response.status_code
    assert_nothing_written()


def test_body_over_the_limit_is_413(client, assert_nothing_written):
    huge = b'[{"sensor":"s","timestamp":"2021-11-08T21:38:09Z","value":1,"pad":"' + b"x" * (5 * 1024 * 1024) + b'"}]'
    response = post_raw(client, huge)
    assert response.status_code == 413
    assert response.get_json()["code"] == 413
    assert_nothing_written()


def test_batch_over_max_batch_is_413(client, assert_nothing_written):
    batch = [{**GOOD, "timestamp": f"2021-11-08T21:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}Z"} for i in range(10_001)]
    response = client.post("/data", json=batch)
    assert response.status_code == 413
    assert "at most 10000" in response.get_json()["message"]
    assert_nothing_written()


def test_content_type_with_charset_is_json(client):
    response = post_raw(client, b"[]", "application/json; charset=utf-8")
    assert response.status_code == 200


def test_wrong_method_and_unknown_path_are_json_errors(client):
    assert client.get("/data").status_code == 405
    assert client.get("/data").get_json()["code"] == 405
    response = client.get("/no/such/route")
    assert response.status_code == 404 and response.get_json()["status"] == "Not Found"


def test_batches_with_units_are_proven_free_of_repeated_keys_without_a_second_parse(client, monkeypatch):
    import service.jsonio

    def second_parse(*args, **kwargs):
        raise AssertionError("the quote count should have proven this body clean")

    monkeypatch.setattr(service.jsonio.json, "loads", second_parse)
    batch = [{**GOOD, "unit": "F", "value": 70.0}, GOOD]
    assert client.post("/data", json=batch).status_code == 200


def test_a_repeated_key_in_a_batch_with_units_is_400(client, assert_nothing_written):
    body = b'[{"sensor":"s","timestamp":"2021-11-08T21:38:09Z","value":1,"unit":"C","unit":"F"}]'
    response = post_raw(client, body)
    assert response.status_code == 400 and "unit" in response.get_json()["message"]
    assert_nothing_written()
