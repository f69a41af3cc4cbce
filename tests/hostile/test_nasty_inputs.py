"""A checked list of nasty inputs: each answers a clear 4xx JSON error,
writes nothing, and leaves the server serving."""

from __future__ import annotations

import orjson
import pytest

from service.jsonio import count_strings

GOOD = {"sensor": "ok-1", "timestamp": "2024-01-01T00:00:00Z", "value": 1.0}


def _post(client, body: bytes, content_type: str = "application/json"):
    return client.post("/data", data=body, headers={"Content-Type": content_type})


def _reading(**changes) -> dict:
    return {**GOOD, **changes}


def _assert_clear_4xx(response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    body = response.get_json()
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]


@pytest.fixture
def unharmed(client, clean_redis):
    """After the test: nothing was written, and a good batch still works."""
    yield
    assert clean_redis.dbsize() == 0
    assert client.post("/data", json=[GOOD]).json == {"accepted": 1, "duplicates": 0}


NASTY_BODIES = {
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, 400),
    "deep nesting just under the parser's limit": (b"[" * 1000 + b"]" * 1000, 422),
    "deep object nesting": (b'{"a":' * 5000 + b"1" + b"}" * 5000, 400),
    "1e400": (orjson.dumps([_reading()]).replace(b"1.0", b"1e400"), 400),
    "-1e400": (orjson.dumps([_reading()]).replace(b"1.0", b"-1e400"), 400),
    "huge integer": (orjson.dumps([_reading()]).replace(b"1.0", b"9" * 400), 400),
    "NaN literal": (orjson.dumps([_reading()]).replace(b"1.0", b"NaN"), 400),
    "Infinity literal": (orjson.dumps([_reading()]).replace(b"1.0", b"Infinity"), 400),
    "-Infinity literal": (orjson.dumps([_reading()]).replace(b"1.0", b"-Infinity"), 400),
    "invalid UTF-8 in a string": (b'[{"sensor": "ab\xff\xfe", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]', 400),
    "lone surrogate escape": (b'[{"sensor": "\\ud800", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]', 400),
    "overlong UTF-8": (b'[{"sensor": "\xc0\xaf", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]', 400),
    "NUL byte": (b'[{"sensor": "a\x00", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]', 400),
    "escaped NUL in an id": (b'[{"sensor": "a\\u0000", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]', 422),
    "trailing garbage": (orjson.dumps([GOOD]) + b"]", 400),
    "two documents": (orjson.dumps([GOOD]) + orjson.dumps([GOOD]), 400),
    "empty": (b"", 400),
    "whitespace only": (b"   \n", 400),
    "an object wrapping the array": (orjson.dumps({"readings": [GOOD]}), 422),  # a lone reading, and not one
    "null": (b"null", 400),
    "array of arrays": (b"[[1, 2, 3]]", 422),
    "duplicate key, last one valid": (
        b'[{"sensor": "a", "sensor": "b", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]',
        400,
    ),
    "duplicate value key": (b'[{"sensor": "a", "timestamp": "2024-01-01T00:00:00Z", "value": 1, "value": 2}]', 400),
    "duplicate key spelled with an escape": (
        b'[{"sensor": "a", "s\\u0065nsor": "b", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]',
        400,
    ),
    "duplicate key with space before the colon": (
        b'[{"sensor": "a", "timestamp": "2024-01-01T00:00:00Z", "value" : 1, "value":2}]',
        400,
    ),
}


@pytest.mark.parametrize("body,status", NASTY_BODIES.values(), ids=NASTY_BODIES.keys())
def test_nasty_body_is_a_clear_4xx_and_writes_nothing(client, unharmed, body, status):
    _assert_clear_4xx(_post(client, body), status)


def test_duplicate_key_message_names_the_key(client, unharmed):
    body = b'[{"sensor": "a", "timestamp": "2024-01-01T00:00:00Z", "value": 1, "value": 2}]'
    response = _post(client, body)
    _assert_clear_4xx(response, 400)
    assert "repeats a key" in response.json["message"]
    assert "'value'" in response.json["message"]


def test_ten_megabyte_string_is_refused_as_too_large(client, unharmed):
    body = orjson.dumps([_reading(sensor="x" * 10 * 1024 * 1024)])
    _assert_clear_4xx(_post(client, body), 413)


def test_long_string_under_the_size_limit_is_an_invalid_sensor_id(client, unharmed):
    response = client.post("/data", json=[_reading(sensor="x" * 1024 * 1024)])
    _assert_clear_4xx(response, 422)


def test_batch_of_one_more_than_the_limit_is_refused(client, unharmed):
    batch = [_reading(timestamp=f"2024-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z") for i in range(10_001)]
    _assert_clear_4xx(client.post("/data", json=batch), 413)


def test_body_not_declared_json_is_refused(client, unharmed):
    _assert_clear_4xx(_post(client, orjson.dumps([GOOD]), "text/plain"), 415)


HOSTILE_IDS = [
    "{a}", "a{b}c", "}{", "{", "a/b", "../x", "a%2Fb", "a%7Bb%7D", "a*", "a?", "[ab]", "a\\b", "a b",
    "sensor:{x}:r:0:1", "é", "a\u200b", "", "x" * 129, "\n", "a\n",
]


@pytest.mark.parametrize("sensor_id", HOSTILE_IDS)
def test_hostile_sensor_id_in_a_body_is_422_and_writes_nothing(client, unharmed, sensor_id):
    response = client.post("/data", json=[_reading(sensor=sensor_id)])
    _assert_clear_4xx(response, 422)
    assert "sensor" in response.json["errors"]["json"]["0"]


URL_IDS = {
    "brace": ("/statistics/a%7Bb%7D", 400),
    "raw braces": ("/statistics/{a}", 400),
    "encoded slash": ("/statistics/a%2Fb", 404),
    "slash": ("/statistics/a/b", 404),
    "glob star": ("/statistics/a*", 400),
    "glob question": ("/statistics/a%3F", 400),
    "glob class": ("/statistics/%5Bab%5D", 400),
    "percent encoded percent": ("/statistics/a%2525", 400),
    "space": ("/statistics/a%20b", 400),
    "newline": ("/statistics/a%0A", 400),
    "too long": ("/statistics/" + "x" * 129, 400),
    "non-ASCII": ("/statistics/%C3%A9", 400),
    "invalid UTF-8": ("/statistics/%FF", 400),
}


@pytest.mark.parametrize("path,status", URL_IDS.values(), ids=URL_IDS.keys())
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_hostile_sensor_id_in_a_url_is_a_clear_4xx_and_writes_nothing(client, unharmed, method, path, status):
    _assert_clear_4xx(client.open(path, method=method), status)


TIMESTAMPS = [
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
    "1969-12-31T23:59:59Z", "2024-02-30T00:00:00Z", "2024-01-01T24:00:01Z", "2024-01-01T00:00:00+25:00",
    "2024-01-01", "2024-01-01T00:00:00", "now", "", " 2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z\n",
    "+002024-01-01T00:00:00Z", "1e10",
    # A NUL ends a C string: datetime.fromisoformat would read the instant before it.
    "2024-01-01T00:00:00Z\x00", "2024-01-01T00:00:00\x00Z", "2024-01-01T00:00:00Z\x00junk",
]


@pytest.mark.parametrize("stamp", TIMESTAMPS)
def test_out_of_range_or_malformed_timestamp_is_422_and_writes_nothing(client, unharmed, stamp):
    response = client.post("/data", json=[_reading(timestamp=stamp)])
    _assert_clear_4xx(response, 422)
    assert "timestamp" in response.json["errors"]["json"]["0"]


@pytest.mark.parametrize("value", [True, "1.5", None, [1], {"v": 1}])
def test_non_number_value_is_422(client, unharmed, value):
    _assert_clear_4xx(client.post("/data", json=[_reading(value=value)]), 422)


def test_one_bad_item_in_a_large_batch_rejects_the_batch_and_writes_nothing(client, unharmed):
    batch = [_reading(sensor=f"s-{i}") for i in range(5000)]
    batch[4321] = _reading(sensor="bad{tag}")
    response = client.post("/data", json=batch)
    _assert_clear_4xx(response, 422)
    assert list(response.json["errors"]["json"]) == ["4321"]


@pytest.mark.parametrize(
    "document,strings",
    [([], 0), ({"a": "b"}, 2), ([{"a": 1, "b": ["c", {"d": None}]}], 4), ("s", 1), (1, 0)],
)
def test_count_strings_counts_keys_and_string_values(document, strings):
    assert count_strings(document) == strings


def test_escaped_keys_that_are_distinct_are_accepted(client):
    body = b'{"a\\u0062": 1, "ab2": 2}'
    # Not /data's shape; the check itself must not confuse distinct keys.
    from service.jsonio import reject_duplicate_keys

    reject_duplicate_keys(body, 2)
    response = _post(client, b'[{"sensor": "a\\u002db", "timestamp": "2024-01-01T00:00:00Z", "value": 1}]')
    assert response.status_code == 200
    assert client.get("/statistics/a-b").json["count"] == 1


@pytest.mark.parametrize("cursor", ["0-0", "000-000", "18446744073709551616-0", "0-18446744073709551616", "1-x"])
def test_event_cursor_that_no_page_can_end_at_is_422(client, cursor):
    _assert_clear_4xx(client.get(f"/v1/events?cursor={cursor}"), 422)
