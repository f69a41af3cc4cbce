"""Bad line protocol: 400 in sensorhub's JSON error shape naming the line
(as InfluxDB's "unable to parse '...'"), nothing written, the readings
counted as rejected."""

from __future__ import annotations

import pytest

from .conftest import readings_counted

GOOD = "temp,sensor=t-1 value=21.5 1714521600000000000"


@pytest.fixture
def assert_refused(client, redis_client):
    def check(response, line: int, *message_parts: str):
        assert response.status_code == 400
        body = response.get_json()
        assert body["code"] == 400 and body["status"] == "Bad Request"
        assert f"(line {line})" in body["message"] and "nothing was written" in body["message"]
        assert list(body["errors"]["body"]) == [str(line)]
        for part in message_parts:
            assert part in body["errors"]["body"][str(line)][0]
        assert redis_client.dbsize() == 0

    return check


@pytest.mark.parametrize(
    ("line", "message_parts"),
    [
        ("temp,sensor=t\\ 1\\ value=1", ["unable to parse 'temp,sensor=t\\ 1\\ value=1'"]),  # a bad escape
        ("temp,sensor=t-1 value=\"warm\"", ["field 'value' is a string"]),
        ("temp,sensor=t-1 value=true", ["field 'value' is a boolean"]),
        ("temp,sensor=t-1 value=1x", ["unable to parse"]),
        ("temp,sensor=t-1 value=21.5 4102444800000000000", ["out of range", "1970-01-01 and 2100-01-01"]),
        ("temp,sensor=t-1 value=21.5 -1", ["out of range"]),
        ("temp,sensor=t-1 value=21.5 99999999999999999999", ["timestamp"]),
        ("temp,sensor=t-1,unit=furlongs value=1", ["unit tag 'furlongs'"]),
        ("temp,sensor=t-1,unit=K value=-1", ["absolute zero"]),
        ("temp,sensor=room\\ 1 value=1", ["sensor id 'room 1'", "1 to 128 characters"]),
        ("temp", ["unable to parse 'temp'"]),
    ],
    ids=["bad-escape", "string", "boolean", "bad-number", "after-2100", "before-1970", "not-int64", "unknown-unit",
         "below-absolute-zero", "bad-sensor-id", "no-field"],
)
def test_a_bad_line_refuses_the_whole_write_naming_its_number(client, assert_refused, line, message_parts):
    rejected = readings_counted(client, "rejected")
    response = client.post("/api/v2/write?org=o&bucket=b", data=f"{GOOD}\n{line}\n{GOOD}")
    assert_refused(response, 2, *message_parts)
    assert readings_counted(client, "rejected") - rejected == 3


def test_a_reading_its_sensor_kind_refuses_names_its_line(client, assert_refused, redis_client):
    assert client.put("/v1/sensors/h-1", json={"kind": "humidity"}).status_code in (200, 201)
    keys_before = redis_client.dbsize()
    response = client.post("/write", data=f"{GOOD}\nclimate,sensor=h-1 value=140")
    body = response.get_json()
    assert response.status_code == 400 and "(line 2)" in body["message"]
    assert "0 and 100" in body["errors"]["body"]["2"][0]
    assert redis_client.dbsize() == keys_before


def test_an_unknown_precision_is_refused(client, redis_client):
    rejected = readings_counted(client, "rejected")
    response = client.post("/api/v2/write?precision=h", data=GOOD)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"query": {"precision": ["Not a known precision; one of: ns, us, ms, s."]}}
    assert redis_client.dbsize() == 0
    assert readings_counted(client, "rejected") - rejected == 1


@pytest.mark.parametrize("body", [b"", b"\n# only a comment\n"])
def test_a_write_without_a_point_is_refused(client, body):
    response = client.post("/api/v2/write", data=body)
    assert response.status_code == 400 and "no line protocol point" in response.get_json()["message"]
