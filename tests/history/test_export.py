"""History export: a sensor's readings and buckets as CSV or NDJSON, and many
sensors in one download, streamed; refused before the first byte when wrong."""

from __future__ import annotations

import csv
import io
import json

import pytest

from service import create_app, exactsum, timeutil
from service.history.export import COLUMNS
from service.stores import stores
from tests.auth.authkeys import ALL_ADMIN, ALL_READ, ALPHA_ADMIN, ALPHA_INGEST, ALPHA_READ, BETA_READ, KEYS, bearer

HOUR = 3600 * 1_000_000
DAY = 24 * HOUR


def iso(us: int) -> str:
    return timeutil.us_to_iso(us)


def post(client, sensor: str, readings: list[tuple[int, float]], headers=None) -> None:
    body = [{"sensor": sensor, "timestamp": iso(at), "value": value} for at, value in readings]
    for first in range(0, len(body), 5000):
        response = client.post("/data", json=body[first : first + 5000], headers=headers or {})
        assert response.status_code == 200, response.get_json()


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def ndjson_rows(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def hour_start(us: int) -> int:
    return us - us % HOUR


def day_start(us: int) -> int:
    return us - us % DAY


def expected_bucket(start: int, readings: list[tuple[int, float]]) -> dict:
    """A bucket row as NDJSON gives it, computed from the readings in it."""
    readings = sorted(readings)
    values = [value for _, value in readings]
    total = exactsum.of_partials([float(sum(values))])
    return {"count": len(values), "min": min(values), "max": max(values), "sum": total,
            "avg": exactsum.mean(total, len(values)), "time": iso(start),
            "first_time": iso(readings[0][0]), "first": values[0], "last_time": iso(readings[-1][0]), "last": values[-1]}


@pytest.fixture
def spanning(client):
    """Readings of sensor s1 in the raw store (the last hours), in the hourly
    tier (days ago, beyond RETENTION) and in the daily tier (beyond the hourly
    tier's 400 days); the range of an export covering all of them."""
    now = timeutil.now_us()
    recent = hour_start(now) - 3 * HOUR
    raw = [(recent + 60_000_000 * minute + 250_000, 20.25 + minute) for minute in range(5)]
    five_days = hour_start(now) - 5 * DAY
    hourly = [(five_days + 600_000_000 * i, 10.5 + i) for i in range(4)] + [(five_days + HOUR + 1_000_000, 7.0)]
    long_ago = day_start(now) - 500 * DAY
    daily = [(long_ago + HOUR * i, 30.0 - i) for i in (1, 5, 20)]
    post(client, "s1", raw + hourly + daily)
    return {"start": day_start(now) - 600 * DAY, "raw": raw, "hourly": hourly, "daily": daily}


def spanning_expectation(spanning) -> list[dict]:
    hours: dict[int, list] = {}
    for at, value in spanning["hourly"]:
        hours.setdefault(hour_start(at), []).append((at, value))
    return (
        [{"source": "1d", **expected_bucket(day_start(spanning["daily"][0][0]), spanning["daily"])}]
        + [{"source": "1h", **expected_bucket(start, found)} for start, found in sorted(hours.items())]
        + [{"source": "raw", "time": iso(at), "value": value} for at, value in spanning["raw"]]
    )


def test_ndjson_export_gives_each_raw_reading_then_each_bucket_beyond_retention_once_in_time_order(client, spanning):
    response = client.get(f"/v1/sensors/s1/export?start={spanning['start'] // 1_000_000}&format=ndjson")
    assert response.status_code == 200
    assert response.content_type == "application/x-ndjson"
    rows = ndjson_rows(response)
    assert [row["time"] for row in rows] == sorted(row["time"] for row in rows)
    assert all(row["sensor"] == "s1" and row["unit"] is None for row in rows)
    shown = [{key: value for key, value in row.items() if key not in ("sensor", "unit")} for row in rows]
    assert shown == spanning_expectation(spanning)
    posted = len(spanning["raw"]) + len(spanning["hourly"]) + len(spanning["daily"])
    assert sum(row.get("count", 1) for row in rows) == posted


def test_csv_export_has_a_header_and_the_same_rows_with_empty_cells_where_a_column_does_not_apply(client, spanning):
    response = client.get(f"/v1/sensors/s1/export?start={spanning['start'] // 1_000_000}&format=csv")
    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    rows = csv_rows(response)
    expected = spanning_expectation(spanning)
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert row["sensor"] == "s1" and row["source"] == want["source"] and row["time"] == want["time"]
        if want["source"] == "raw":
            assert float(row["value"]) == want["value"]
            assert row["count"] == row["avg"] == row["first_time"] == ""
        else:
            assert row["value"] == ""
            assert int(row["count"]) == want["count"]
            for column in ("avg", "min", "max", "sum", "first", "last"):
                assert float(row[column]) == want[column], column
            assert (row["first_time"], row["last_time"]) == (want["first_time"], want["last_time"])


def test_the_download_is_named_after_the_sensor_and_range(client, spanning):
    response = client.get(f"/v1/sensors/s1/export?start={spanning['start'] // 1_000_000}&end=2030-01-02T03:04:05Z")
    start_name = timeutil.us_to_datetime(spanning["start"]).strftime("%Y%m%dT%H%M%SZ")
    assert response.headers["Content-Disposition"] == f'attachment; filename="s1-{start_name}-20300102T030405Z.csv"'


def test_a_file_name_keeps_only_safe_characters(client):
    now = timeutil.now_us()
    post(client, "gw:7.a", [(now - HOUR, 1.0)])
    response = client.get(f"/v1/sensors/gw:7.a/export?start={(now - 2 * HOUR) // 1_000_000}")
    assert response.status_code == 200
    assert 'filename="gw_7.a-' in response.headers["Content-Disposition"]


def test_times_carry_microseconds_only_when_a_reading_has_them(client):
    now = hour_start(timeutil.now_us()) - HOUR
    post(client, "s", [(now, 1.0), (now + 1_500_000, 2.0)])
    rows = ndjson_rows(client.get(f"/v1/sensors/s/export?start={(now - HOUR) // 1_000_000}&format=ndjson"))
    assert [row["time"] for row in rows] == [iso(now), iso(now + 1_500_000)]
    assert rows[0]["time"].endswith(":00Z") and rows[1]["time"].endswith(":01.500000Z")


def test_an_export_within_retention_is_raw_readings_only_and_respects_start_and_end(client):
    base = hour_start(timeutil.now_us()) - 4 * HOUR
    readings = [(base + 600_000_000 * i, float(i)) for i in range(12)]
    post(client, "s", readings)
    start, end = readings[2][0], readings[9][0]
    response = client.get(f"/v1/sensors/s/export?start={iso(start)}&end={iso(end)}&format=ndjson")
    assert [(row["time"], row["value"]) for row in ndjson_rows(response)] == [(iso(at), v) for at, v in readings[2:9]]


def test_unit_converts_readings_and_buckets_of_a_temperature_sensor(client):
    client.put("/v1/sensors/t", json={"kind": "temperature"})
    now = timeutil.now_us()
    old = hour_start(now) - 3 * DAY
    post(client, "t", [(old, 10.0), (old + 60_000_000, 20.0), (now - HOUR, 100.0)])
    rows = ndjson_rows(client.get(f"/v1/sensors/t/export?start={(old - DAY) // 1_000_000}&format=ndjson&unit=F"))
    assert [row["unit"] for row in rows] == ["F", "F"]
    assert (rows[0]["min"], rows[0]["max"], rows[0]["avg"], rows[0]["sum"]) == (50.0, 68.0, 59.0, 118.0)
    assert rows[1]["value"] == 212.0
    celsius = ndjson_rows(client.get(f"/v1/sensors/t/export?start={(old - DAY) // 1_000_000}&format=ndjson"))
    assert celsius[0]["unit"] == "C" and celsius[0]["sum"] == 30.0
    refused = client.get(f"/v1/sensors/t/export?start={(old - DAY) // 1_000_000}&unit=ppm")
    assert refused.status_code == 422 and "unit" in refused.get_json()["errors"]["query"]


def test_a_cleared_sensor_exports_nothing_of_before_the_clear(client):
    now = timeutil.now_us()
    post(client, "s", [(now - 3 * DAY, 5.0), (now - HOUR, 6.0)])
    assert client.delete("/statistics/s").status_code in (200, 204)
    post(client, "s", [(now - 2 * HOUR, 7.0)])
    rows = ndjson_rows(client.get(f"/v1/sensors/s/export?start={(now - 5 * DAY) // 1_000_000}&format=ndjson"))
    assert [(row["source"], row["value"]) for row in rows] == [("raw", 7.0)]


def test_a_sensor_never_heard_of_is_404(client):
    response = client.get("/v1/sensors/ghost/export?start=0")
    assert response.status_code == 404
    assert response.get_json()["message"] == "No sensor ghost: never registered, no reading received."


def test_an_invalid_sensor_id_is_400(client):
    assert client.get("/v1/sensors/a%20b/export?start=0").status_code == 400


def test_the_response_is_a_stream(client):
    now = timeutil.now_us()
    post(client, "s", [(now - HOUR, 1.0)])
    response = client.get(f"/v1/sensors/s/export?start={(now - DAY) // 1_000_000}", buffered=False)
    assert response.is_streamed
    assert not isinstance(response.response, list)
    assert b"".join(response.response).decode().count("\n") == 2
    response.close()


# -- refusals: a 422 naming the parameter, before anything is sent -------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("format=xml&start=0", "format"),
        ("end=1", "start"),  # start missing
        ("start=yesterday", "start"),
        ("start=1000&end=1000", "end"),
        ("start=2000&end=1000", "end"),
        ("start=0", "start"),  # 1970: before the daily tier's 3650 days
        ("start=0&unit=parsec", "unit"),
    ],
)
def test_a_bad_query_is_422_naming_the_parameter(client, query, parameter):
    post(client, "s", [(timeutil.now_us() - HOUR, 1.0)])
    response = client.get(f"/v1/sensors/s/export?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    assert parameter in response.get_json()["errors"]["query"]


def test_a_range_older_than_the_history_says_how_far_back_it_reaches(client):
    post(client, "s", [(timeutil.now_us() - HOUR, 1.0)])
    message = client.get("/v1/sensors/s/export?start=0").get_json()["message"]
    assert "history reaches back to" in message and "move start later" in message


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("start=0", {"org", "site", "sensors"}),
        ("org=a&site=b&start=0", {"org", "site"}),
        ("org=a&sensors=s&start=0", {"org", "sensors"}),
        ("org=a&site=b&sensors=s&start=0", {"org", "site", "sensors"}),
        ("sensors=a,b%20c&start=0", {"sensors"}),
        ("sensors=s&start=0&format=tsv", {"format"}),
    ],
)
def test_many_sensor_export_needs_exactly_one_of_org_site_sensors(client, query, named):
    response = client.get(f"/v1/export?{query}")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]["query"]) == named


def test_many_sensor_export_refuses_more_than_ten_thousand_sensors(client, redis_client):
    from service import keys

    listed = ",".join(f"s{i}" for i in range(10_001))
    response = client.get(f"/v1/export?sensors={listed}&start={timeutil.now_us() // 1_000_000 - 60}")
    assert response.status_code == 422
    assert "At most 10000 sensors" in response.get_json()["errors"]["query"]["sensors"][0]
    redis_client.sadd(keys.sensors_by("org", "big"), *(f"s{i}" for i in range(10_001)))
    response = client.get(f"/v1/export?org=big&start={timeutil.now_us() // 1_000_000 - 60}")
    assert response.status_code == 422
    assert "at most 10000" in response.get_json()["errors"]["query"]["org"][0]


# -- many sensors ---------------------------------------------------------


@pytest.fixture
def fleet(client):
    """Sensors of two orgs and sites, each with readings in the raw store and
    in the hourly tier; returns their readings by sensor."""
    placement = {"b2": ("acme", "north"), "a1": ("acme", "north"), "c3": ("acme", "south"), "z9": ("other", "west")}
    now = timeutil.now_us()
    readings = {}
    for position, (sensor, (org, site)) in enumerate(sorted(placement.items())):
        assert client.put(f"/v1/sensors/{sensor}", json={"org": org, "site": site}).status_code == 201
        readings[sensor] = [(hour_start(now) - 3 * DAY + position * 1_000_000, 1.0 + position),
                            (now - HOUR - position * 1_000_000, 2.0 + position)]
        post(client, sensor, readings[sensor])
    return readings


def exported(client, query: str, headers=None) -> list[tuple[str, str]]:
    response = client.get(f"/v1/export?{query}&start={(timeutil.now_us() - 4 * DAY) // 1_000_000}&format=ndjson",
                          headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(row["sensor"], row["source"]) for row in ndjson_rows(response)]


def test_many_sensor_export_by_org_gives_its_sensors_in_id_order_each_in_time_order(client, fleet):
    assert exported(client, "org=acme") == [
        ("a1", "1h"), ("a1", "raw"), ("b2", "1h"), ("b2", "raw"), ("c3", "1h"), ("c3", "raw"),
    ]


def test_many_sensor_export_by_site(client, fleet):
    assert exported(client, "site=north") == [("a1", "1h"), ("a1", "raw"), ("b2", "1h"), ("b2", "raw")]


def test_many_sensor_export_by_list_is_in_id_order_and_rows_equal_the_single_exports(client, fleet):
    assert exported(client, "sensors=z9,a1") == [("a1", "1h"), ("a1", "raw"), ("z9", "1h"), ("z9", "raw")]
    start = (timeutil.now_us() - 4 * DAY) // 1_000_000
    many = client.get(f"/v1/export?sensors=z9,a1&start={start}").get_data(as_text=True).splitlines()
    one = client.get(f"/v1/sensors/a1/export?start={start}").get_data(as_text=True).splitlines()
    assert many[: len(one)] == one
    disposition = client.get(f"/v1/export?org=acme&start={start}").headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="org-acme-') and disposition.endswith('.csv"')


def test_many_sensor_export_of_a_listed_sensor_never_heard_of_is_404_naming_it(client, fleet):
    response = client.get(f"/v1/export?sensors=a1,ghost&start={timeutil.now_us() // 1_000_000 - 60}")
    assert response.status_code == 404
    assert "ghost" in response.get_json()["message"] and "a1" not in response.get_json()["message"]


def test_an_org_with_no_sensors_exports_a_header_only(client):
    response = client.get(f"/v1/export?org=nobody&start={timeutil.now_us() // 1_000_000 - 60}")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == ",".join(COLUMNS) + "\r\n"


def test_a_stale_index_entry_is_not_exported(client, fleet, redis_client):
    from service import keys

    redis_client.sadd(keys.sensors_by("org", "acme"), "z9")  # z9 is of org other
    assert {sensor for sensor, _ in exported(client, "org=acme")} == {"a1", "b2", "c3"}


# -- org-scoped API keys ---------------------------------------------------


@pytest.fixture
def keyed(settings, clean_redis):
    app = create_app(settings.replace(api_keys_text=json.dumps(KEYS)))
    app.config["TESTING"] = True
    yield app.test_client()
    stores(app).client.close()


@pytest.fixture
def two_orgs(keyed):
    now = timeutil.now_us()
    for sensor, org in (("a1", "alphacorp"), ("a2", "alphacorp"), ("b1", "betacorp")):
        keyed.put(f"/v1/sensors/{sensor}", json={"org": org, "site": "shared"}, headers=bearer(ALL_ADMIN))
        post(keyed, sensor, [(now - HOUR, 1.0), (now - 3 * DAY, 2.0)], headers=bearer(ALL_ADMIN))
    return keyed


def test_an_org_key_exports_its_own_sensors_only(two_orgs):
    alpha = bearer(ALPHA_READ)
    assert {sensor for sensor, _ in exported(two_orgs, "org=alphacorp", alpha)} == {"a1", "a2"}
    assert {sensor for sensor, _ in exported(two_orgs, "site=shared", alpha)} == {"a1", "a2"}
    assert {sensor for sensor, _ in exported(two_orgs, "site=shared", bearer(ALL_READ))} == {"a1", "a2", "b1"}
    start = timeutil.now_us() // 1_000_000 - 60
    assert two_orgs.get(f"/v1/export?org=betacorp&start={start}", headers=alpha).status_code == 404
    listed = two_orgs.get(f"/v1/export?sensors=a1,b1&start={start}", headers=alpha)
    assert listed.status_code == 404 and "b1" in listed.get_json()["message"]


def test_another_orgs_sensor_answers_404_like_one_never_heard_of(two_orgs):
    foreign = two_orgs.get("/v1/sensors/b1/export?start=0", headers=bearer(ALPHA_READ))
    missing = two_orgs.get("/v1/sensors/nope/export?start=0", headers=bearer(ALPHA_READ))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json()["message"].replace("b1", "X") == missing.get_json()["message"].replace("nope", "X")
    assert two_orgs.get("/v1/sensors/b1/export?start=0", headers=bearer(BETA_READ)).status_code == 422  # too old


def test_export_needs_the_read_role(two_orgs):
    start = timeutil.now_us() // 1_000_000 - 60
    assert two_orgs.get(f"/v1/sensors/a1/export?start={start}", headers=bearer(ALPHA_INGEST)).status_code == 403
    assert two_orgs.get(f"/v1/sensors/a1/export?start={start}", headers=bearer(ALPHA_ADMIN)).status_code == 200
    assert two_orgs.get(f"/v1/export?org=alphacorp&start={start}").status_code == 401


# -- size -----------------------------------------------------------------


def test_a_year_of_hourly_buckets_of_a_few_sensors_exports_every_bucket(client, app):
    now = timeutil.now_us()
    first = hour_start(now) - 365 * DAY
    hours = 365 * 24
    for sensor in ("y1", "y2", "y3"):
        post(client, sensor, [(first + HOUR * i + 17_000_000, float(i % 50)) for i in range(hours)])
    response = client.get(f"/v1/export?sensors=y1,y2,y3&start={first // 1_000_000}&format=csv", buffered=False)
    assert response.is_streamed
    lines = 0
    counted = 0
    for chunk in response.response:
        text = chunk.decode()
        lines += text.count("\n")
        counted += sum(1 for line in text.splitlines() if line.startswith("y"))
    response.close()
    # Every reading is in exactly one row: the raw ones (RETENTION) one each,
    # the older ones in their hourly bucket.
    assert counted == 3 * hours
    assert lines == 3 * hours + 1


def test_a_range_ending_far_in_the_future_reads_no_further_than_the_latest_reading(client, app):
    now = timeutil.now_us()
    post(client, "s", [(now - 3 * HOUR, 1.0), (now - HOUR, 2.0)])
    reads = []
    real_pipeline = stores(app).client.pipeline

    def counting_pipeline(*args, **kwargs):
        reads.append(1)
        return real_pipeline(*args, **kwargs)

    stores(app).client.pipeline = counting_pipeline
    response = client.get(f"/v1/sensors/s/export?start={(now - DAY) // 1_000_000}&end=2099-12-31T00:00:00Z&format=ndjson")
    assert [row["value"] for row in ndjson_rows(response)] == [1.0, 2.0]
    assert len(reads) < 10
