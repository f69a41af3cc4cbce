"""POST /api/v2/write and POST /write: line protocol as readings, with
POST /data's exactness (dedup by instant, first value wins)."""

from __future__ import annotations

import pytest

from service import timeutil

# Telegraf's output: seconds 2024-05-01T00:00:00Z in nanoseconds.
NS = 1714521600000000000


def write(client, body: str, path: str = "/api/v2/write?org=o&bucket=b", **kwargs):
    return client.post(path, data=body.encode(), content_type="text/plain; charset=utf-8", **kwargs)


def stats(client, sensor: str) -> dict:
    return client.get(f"/statistics/{sensor}").get_json()


@pytest.mark.parametrize("path", ["/api/v2/write?org=o&bucket=b", "/write?db=telegraf"])
def test_a_write_answers_204_without_a_body(client, path):
    response = write(client, f"cpu,host=a usage_idle=98.5 {NS}", path)
    assert response.status_code == 204 and response.data == b""
    assert stats(client, "cpu.usage_idle") == {"last_measurement": "2024-05-01T00:00:00Z", "count": 1, "avg": 98.5}


def test_each_field_without_a_sensor_tag_is_the_sensor_measurement_dot_field(client):
    write(client, f"cpu,host=a,cpu=cpu-total usage_idle=98.5,usage_user=1.25 {NS}\nmem,host=a used=4096i {NS}")
    assert stats(client, "cpu.usage_idle")["avg"] == 98.5
    assert stats(client, "cpu.usage_user")["avg"] == 1.25
    assert stats(client, "mem.used")["avg"] == 4096.0


def test_the_sensor_tag_names_the_value_field_and_prefixes_the_others(client):
    write(client, f"climate,sensor=t-1,site=hq value=21.5,humidity=40i {NS}")
    assert stats(client, "t-1")["avg"] == 21.5
    assert stats(client, "t-1.humidity")["avg"] == 40.0
    assert stats(client, "climate.value")["count"] == 0


def test_float_integer_and_unsigned_fields_are_numeric_readings(client):
    write(client, f"m f=1.5,i=-3i,u=18446744073709551615u {NS}")
    assert stats(client, "m.f")["avg"] == 1.5
    assert stats(client, "m.i")["avg"] == -3.0
    assert stats(client, "m.u")["avg"] == 18446744073709551615.0


def test_the_unit_tag_converts_as_a_reading_unit_does(client):
    write(client, f"temp,sensor=t-1,unit=F value=212 {NS}")
    assert stats(client, "t-1")["avg"] == 100.0


@pytest.mark.parametrize(
    ("precision", "stamp"), [("ns", NS), ("us", NS // 1000), ("ms", NS // 10**6), ("s", NS // 10**9)]
)
def test_every_precision_names_the_same_instant(client, precision, stamp):
    write(client, f"temp,sensor=t-1 value=20 {NS}")
    assert write(client, f"temp,sensor=t-1 value=30 {stamp}", f"/api/v2/write?precision={precision}").status_code == 204
    assert stats(client, "t-1") == {"last_measurement": "2024-05-01T00:00:00Z", "count": 1, "avg": 20.0}


@pytest.mark.parametrize(
    ("precision", "stamp"),
    [("n", NS), ("u", NS // 1000), ("m", NS // (60 * 10**9)), ("h", NS // (3600 * 10**9))],
)
def test_the_v1_route_takes_influxdb_1x_precision_names(client, precision, stamp):
    # n and u are ns and us; m and h count minutes and hours.
    assert write(client, f"temp,sensor=t-1 value=30 {stamp}", f"/write?precision={precision}").status_code == 204
    assert stats(client, "t-1") == {"last_measurement": "2024-05-01T00:00:00Z", "count": 1, "avg": 30.0}


def test_a_repeated_instant_keeps_the_first_value_within_and_across_writes(client):
    write(client, f"temp,sensor=t-1 value=20 {NS}\ntemp,sensor=t-1 value=25 {NS}")
    write(client, f"temp,sensor=t-1 value=30 {NS}\ntemp,sensor=t-1 value=40 {NS + 10**9}")
    assert stats(client, "t-1") == {"last_measurement": "2024-05-01T00:00:01Z", "count": 2, "avg": 30.0}


def test_a_line_without_a_timestamp_takes_the_server_time(client):
    before = timeutil.now_us()
    write(client, "temp,sensor=t-1 value=20")
    after = timeutil.now_us()
    last = stats(client, "t-1")["last_measurement"]
    assert before <= timeutil.parse_instant(last)[0] <= after


def test_comments_and_blank_lines_are_skipped(client):
    assert write(client, f"# telegraf\n\ntemp,sensor=t-1 value=20 {NS}\r\n  \n").status_code == 204
    assert stats(client, "t-1")["count"] == 1


def test_accepted_and_duplicate_readings_are_counted_as_post_data_counts_them(client):
    from .conftest import readings_counted

    accepted, duplicate = readings_counted(client, "accepted"), readings_counted(client, "duplicate")
    write(client, f"temp,sensor=t-1 value=20 {NS}\ntemp,sensor=t-1 value=20 {NS}\ntemp,sensor=t-2 value=20 {NS}")
    assert readings_counted(client, "accepted") - accepted == 2
    assert readings_counted(client, "duplicate") - duplicate == 1
