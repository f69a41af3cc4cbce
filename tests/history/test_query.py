"""Series and range aggregates over any range within the longest history
tier: the raw readings (the last RETENTION) joined with the hourly and daily
tiers, each reading counted once, checked against a Python model of the
distinct readings."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from service import exactsum, timeutil
from service.redisdb.scripts import ScriptBatch
from service.sensors import store as sensor_store

SECOND_US = 1_000_000
HOUR_US = 3600 * SECOND_US
DAY_US = 86400 * SECOND_US


def now_us() -> int:
    return time.time_ns() // 1000


def iso(us: int) -> str:
    return timeutil.us_to_iso(us)


def hour(hours_ago: int) -> int:
    """A whole UTC hour ``hours_ago`` hours before the current one."""
    return (now_us() // HOUR_US - hours_ago) * HOUR_US


def utc_day(days_ago: int) -> int:
    """UTC midnight ``days_ago`` days before today's."""
    return (now_us() // DAY_US - days_ago) * DAY_US


def us_of(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * SECOND_US


def days_then_hours(raw_start_us: int) -> list[str]:
    """Sources of a range of whole UTC days up to the raw readings: the
    daily tier, the hourly one for the hours between the last midnight and
    where the raw part starts (none when that is a midnight: between 00:00
    and 01:00 UTC with a RETENTION of whole days), then the raw readings."""
    return ["1d", *(["1h"] if raw_start_us % DAY_US else []), "raw"]


def post(client, sensor: str, readings: list[tuple[int, float]]):
    for first in range(0, len(readings), 5000):
        batch = [{"sensor": sensor, "timestamp": iso(at), "value": value} for at, value in readings[first : first + 5000]]
        response = client.post("/data", json=batch)
        assert response.status_code == 200, response.get_json()


def series(client, sensor: str, start: int, end: int | None = None, status: int = 200, **params):
    query = {"start": iso(start), **({"end": iso(end)} if end is not None else {}), **params}
    response = client.get(f"/v1/sensors/{sensor}/series", query_string=query)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def model(readings, start: int, end: int, bucket_of) -> list[dict]:
    """The points a series must answer: the distinct readings in [start, end)
    grouped by ``bucket_of(instant) -> bucket start``."""
    groups = defaultdict(list)
    for at, value in dict(readings).items():  # an instant counts once (the first value wins; all equal here)
        if start <= at < end:
            groups[bucket_of(at)].append(value)
    return [
        {"t": iso(t), "count": len(values), "avg": exactsum.mean(sum(map(Fraction, values), Fraction(0)), len(values)),
         "min": min(values), "max": max(values)}
        for t, values in sorted(groups.items())
    ]


def floor_of(size_us: int, origin_us: int = 0):
    return lambda at: origin_us + (at - origin_us) // size_us * size_us


def local_bucket(zone: str, period):
    """bucket_of for buckets from local midnight: ``period(local date) -> first day``."""
    tz = ZoneInfo(zone)

    def bucket_of(at: int) -> int:
        day = period(timeutil.us_to_datetime(at).astimezone(tz).date())
        return (datetime(day.year, day.month, day.day, tzinfo=tz) - timeutil.EPOCH) // timeutil.ONE_US

    return bucket_of


def spread(start: int, end: int, every_s: int, first_value: float = 0.0) -> list[tuple[int, float]]:
    """Readings every ``every_s`` seconds (not a divisor of an hour, so they
    fall at every offset), values with one decimal."""
    return [(at, round(first_value + n * 0.1, 1)) for n, at in enumerate(range(start, end, every_s * SECOND_US))]


# -- the seam between the raw readings and the tiers ---------------------------


def test_a_range_over_raw_readings_and_the_hourly_tier_counts_each_reading_once(client):
    start = hour(72)
    readings = spread(start, now_us() - 60 * SECOND_US, 37 * 60)
    post(client, "s", readings)
    post(client, "s", readings[-40:] + readings[:40])  # duplicates: already counted
    body = series(client, "s", start, bucket="1h")
    assert body["points"] == model(readings, start, now_us() + HOUR_US, floor_of(HOUR_US))
    assert [source["source"] for source in body["sources"]] == ["1h", "raw"]
    assert body["sources"][0]["end"] == body["sources"][1]["start"]
    assert sum(point["count"] for point in body["points"]) == len(readings)


def test_a_range_aggregate_over_raw_readings_and_tiers_matches_the_distinct_readings(client):
    start = utc_day(4)
    readings = spread(start, now_us() - 60 * SECOND_US, 23 * 60, first_value=10.0)
    post(client, "s", readings)
    response = client.get("/v1/sensors/s/aggregate", query_string={"start": iso(start)})
    body = response.get_json()
    values = [value for _, value in readings]
    (expected,) = model(readings, start, now_us() + HOUR_US, lambda at: 0)
    assert (body["count"], body["avg"], body["min"], body["max"]) == (len(values), expected["avg"], min(values), max(values))
    # The whole days from the daily tier, the rest of the hours from the hourly one.
    raw_start = us_of(body["sources"][-1]["start"])
    assert [source["source"] for source in body["sources"]] == days_then_hours(raw_start)
    assert body["window"]["start"] == iso(start)


def test_a_trailing_window_is_still_answered_from_the_raw_readings(client):
    post(client, "s", [(now_us() - 5 * 60 * SECOND_US, 4.0)])
    body = client.get("/v1/sensors/s/aggregate?window=15m").get_json()
    assert (body["count"], body["avg"]) == (1, 4.0)
    assert [source["source"] for source in body["sources"]] == ["raw"]


def test_a_daily_series_in_utc_reads_the_daily_tier_where_the_hourly_one_holds_the_range(client):
    start = utc_day(10)
    readings = spread(start, now_us() - 60 * SECOND_US, 41 * 60)
    post(client, "s", readings)
    body = series(client, "s", start, bucket="1d")
    assert body["points"] == model(readings, start, now_us() + HOUR_US, floor_of(DAY_US))
    # Identical sums from 24 times fewer buckets; the hours before the raw
    # part starts from the hourly tier.
    raw_start = us_of(body["sources"][-1]["start"])
    assert [source["source"] for source in body["sources"]] == days_then_hours(raw_start)


def test_a_daily_series_in_utc_beyond_the_hourly_tier_comes_from_the_daily_tier(client):
    start = utc_day(600)
    old = [(utc_day(days) + n * 7 * HOUR_US + 13 * SECOND_US, 20.0 + days / 10 + n) for days in (599, 450, 401, 399, 5)
           for n in range(3)]
    recent = spread(hour(30), now_us() - 60 * SECOND_US, 3 * 3600)
    post(client, "s", old + recent)
    body = series(client, "s", start, bucket="1d")
    assert body["points"] == model(old + recent, start, now_us() + HOUR_US, floor_of(DAY_US))
    assert body["sources"][0] == {"source": "1d", "start": iso(start), "end": body["sources"][1]["start"]}
    assert body["sources"][-1]["source"] == "raw"


# -- weeks and months ------------------------------------------------------------


def test_weekly_buckets_start_on_monday_and_monthly_ones_on_the_first(client):
    start = utc_day(120)
    readings = spread(start, now_us() - 60 * SECOND_US, 5 * 3600 + 17)
    post(client, "s", readings)
    end = now_us() + HOUR_US
    weekly = series(client, "s", start, end, bucket="1w")
    assert weekly["points"] == model(readings, start, end, local_bucket("UTC", lambda d: d - timedelta(days=d.weekday())))
    assert {datetime.fromisoformat(point["t"]).weekday() for point in weekly["points"]} == {0}
    monthly = series(client, "s", start, end, bucket="1mo")
    assert monthly["points"] == model(readings, start, end, local_bucket("UTC", lambda d: d.replace(day=1)))
    assert {point["t"][8:] for point in monthly["points"]} == {"01T00:00:00Z"}


# -- time zones ------------------------------------------------------------------


def last_transition(zone: str) -> date:
    """The most recent local day on which ``zone`` changed its UTC offset
    (4 days ago or more: the range around it lies in the past)."""
    tz = ZoneInfo(zone)
    day = datetime.now(UTC).date() - timedelta(days=4)
    while True:
        before = datetime(day.year, day.month, day.day, tzinfo=tz).utcoffset()
        after = (datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)).utcoffset()
        if before != after:
            return day
        day -= timedelta(days=1)


def test_daily_buckets_follow_local_midnight_across_daylight_saving(client):
    zone = "Europe/Brussels"
    changed = last_transition(zone)
    first, _ = timeutil.day_bounds(zone, changed - timedelta(days=2))
    _, last = timeutil.day_bounds(zone, changed + timedelta(days=2))
    readings = spread(first - 2 * HOUR_US, last + 2 * HOUR_US, 20 * 60 + 7)
    post(client, "s", readings)
    body = series(client, "s", first, last, bucket="1d", tz=zone)
    assert body["points"] == model(readings, first, last, local_bucket(zone, lambda d: d))
    starts = [datetime.fromisoformat(point["t"]) for point in body["points"]]
    lengths = {(b - a) // timedelta(hours=1) for a, b in zip(starts, starts[1:], strict=False)}
    assert lengths in ({23, 24}, {24, 25})  # the day of the change is 23 or 25 hours
    assert all("aligned" not in source for source in body["sources"])  # whole-hour offsets: exact
    assert body["tz"] == zone


def test_a_half_hour_zone_counts_hourly_tier_buckets_whole_and_raw_readings_exactly(client):
    zone = "Asia/Kolkata"  # +05:30: local midnight is 18:30 UTC
    old_evening = utc_day(10) + 18 * HOUR_US
    recent_evening = utc_day(0 if now_us() - utc_day(0) > 19 * HOUR_US else 1) + 18 * HOUR_US
    readings = []
    for evening in (old_evening, recent_evening):
        readings += [(evening + 10 * 60 * SECOND_US, 1.0), (evening + 40 * 60 * SECOND_US, 2.0)]  # 23:40 and 00:10 local
    post(client, "s", readings)
    start = timeutil.day_bounds(zone, timeutil.us_to_datetime(old_evening).date() - timedelta(days=1))[0]
    body = series(client, "s", start, bucket="1d", tz=zone)
    by_t = {point["t"]: point["count"] for point in body["points"]}
    kolkata = local_bucket(zone, lambda d: d)
    # Older than the raw readings: the hour 18:00-19:00 UTC is counted whole
    # in the local day holding its start (23:30 local).
    assert by_t[iso(kolkata(old_evening))] == 2
    # Raw readings: each in its own local day.
    assert by_t[iso(kolkata(recent_evening + 10 * 60 * SECOND_US))] == 1
    assert by_t[iso(kolkata(recent_evening + 40 * 60 * SECOND_US))] == 1
    hourly = [source for source in body["sources"] if source["source"] == "1h"]
    assert hourly and all(source["aligned"] == "1h" for source in hourly)
    assert body["sources"][-1]["source"] == "raw" and "aligned" not in body["sources"][-1]


# -- units and many sensors --------------------------------------------------------


def test_a_temperature_series_from_the_tiers_converts_to_the_unit_asked(client):
    assert client.put("/v1/sensors/t", json={"kind": "temperature"}).status_code == 201
    post(client, "t", [(utc_day(30) + HOUR_US, 100.0), (utc_day(30) + 2 * HOUR_US, 0.0), (hour(1), 37.0)])
    body = series(client, "t", utc_day(31), bucket="1d", unit="F")
    assert body["unit"] == "F"
    assert [(p["count"], p["avg"], p["min"], p["max"]) for p in body["points"]] == [(2, 122.0, 32.0, 212.0),
                                                                                   (1, 98.6, 98.6, 98.6)]
    aggregate = client.get("/v1/sensors/t/aggregate", query_string={"start": iso(utc_day(31)), "unit": "K"}).get_json()
    assert (aggregate["count"], aggregate["max"], aggregate["unit"]) == (3, 373.15, "K")


def test_series_of_many_sensors_joins_each_like_its_own_series_in_one_batch(client, monkeypatch):
    start = hour(24 * 20)
    post(client, "a", spread(start, now_us() - 60 * SECOND_US, 3 * 3600 + 11, first_value=1.0))
    post(client, "b", spread(start + 5 * HOUR_US, now_us() - 60 * SECOND_US, 5 * 3600 + 3, first_value=50.0))
    executed = []

    class CountedBatch(ScriptBatch):
        def execute(self):
            executed.append(len(self.pipe))
            return super().execute()

    monkeypatch.setattr(sensor_store, "ScriptBatch", CountedBatch)
    query = {"sensors": "a,nobody,b", "start": iso(start), "bucket": "1h"}
    body = client.get("/v1/series", query_string=query).get_json()
    assert [one["sensor"] for one in body["series"]] == ["a", "b"] and body["unknown"] == ["nobody"]
    assert len(executed) == 1  # every sensor's raw part and tier chunks in one batch
    for one in body["series"]:
        assert one["points"] == series(client, one["sensor"], start, bucket="1h")["points"]
        assert sum(point["count"] for point in one["points"]) > 0
    assert [source["source"] for source in body["sources"]] == ["1h", "raw"]


# -- refusals --------------------------------------------------------------------


def refusal(client, path: str, **query) -> dict:
    response = client.get(path, query_string=query)
    assert response.status_code == 422, response.get_json()
    return response.get_json()


@pytest.mark.parametrize(("query", "field", "words"), [
    ({"start": hour(2), "end": hour(3)}, "end", "after start"),
    ({"start": utc_day(4000), "bucket": "1d"}, "start", "reaches back to"),
    ({"start": hour(3), "bucket": "2h"}, "bucket", ""),
    ({"start": hour(3), "tz": "Mars/Olympus"}, "tz", "IANA"),
    ({"start": hour(24 * 3), "bucket": "15m"}, "bucket", "kept in 1h buckets"),
    ({"start": hour(24 * 3), "bucket": "1m"}, "bucket", "kept in 1h buckets"),
    ({"start": utc_day(500), "bucket": "1h"}, "bucket", "At most 10000 buckets per sensor"),
    ({"start": utc_day(500), "bucket": "1d", "tz": "Europe/Brussels"}, "tz", "use tz=UTC"),
    ({"start": utc_day(500), "bucket": "1w", "tz": "Asia/Kolkata"}, "tz", "use tz=UTC"),
])
def test_a_series_the_history_cannot_answer_is_422_naming_the_parameter(client, redis_client, query, field, words):
    post(client, "s", [(hour(1), 1.0)])
    keys_before = sorted(redis_client.keys("*"))
    query = {key: iso(value) if key in ("start", "end") else value for key, value in query.items()}
    body = refusal(client, "/v1/sensors/s/series", **query)
    assert words in body["errors"]["query"][field][0]
    assert sorted(redis_client.keys("*")) == keys_before  # nothing written


def test_a_daily_series_in_a_zone_is_answered_where_the_hourly_tier_reaches(client):
    post(client, "s", [(hour(24 * 300), 1.0)])
    body = series(client, "s", utc_day(390), bucket="1d", tz="Europe/Brussels")
    assert [source["source"] for source in body["sources"]] == ["1h", "raw"]
    assert sum(point["count"] for point in body["points"]) == 1


def test_series_of_many_caps_the_buckets_of_all_sensors(client):
    sensors = ",".join(f"s{n}" for n in range(100))
    body = refusal(client, "/v1/series", sensors=sensors, start=iso(hour(24 * 45)), bucket="1h")
    assert "At most 100000 buckets in all" in body["errors"]["query"]["bucket"][0]
    assert client.get("/v1/series", query_string={"sensors": sensors, "start": iso(hour(24 * 40)),
                                                  "bucket": "1h"}).status_code == 200


@pytest.mark.parametrize(("query", "field"), [
    ({"start": hour(5), "window": "1h"}, "window"),
    ({"start": hour(2), "end": hour(3)}, "end"),
    ({"start": utc_day(4000)}, "start"),
])
def test_a_range_aggregate_refuses_a_window_too_an_empty_range_and_one_too_old(client, query, field):
    post(client, "s", [(hour(1), 1.0)])
    query = {key: iso(value) if key in ("start", "end") else value for key, value in query.items()}
    assert field in refusal(client, "/v1/sensors/s/aggregate", **query)["errors"]["query"]


# -- the joining itself, without Redis -------------------------------------------


def test_merge_sums_exactly_and_places_each_item_in_the_bucket_holding_its_start():
    from service.history import query

    items = [(0, 1, 0.1, 0.1, 0.1), (30 * SECOND_US, 1, 1.0, 1.0, 1.0), (59 * SECOND_US, 1, 0.1, 0.1, 0.1),
             (60 * SECOND_US, 2, 5.0, 2.0, 3.0)]
    merged = query.merge(query.grid("1m"), items)
    assert [(t, count, low, high) for t, count, _, low, high in merged] == [(0, 3, 0.1, 1.0), (60 * SECOND_US, 2, 2.0, 3.0)]
    assert exactsum.mean(merged[0][2], 3) == 0.4  # fsum then divide gives 0.39999999999999997
    assert query.total(items)[:1] == (5,) and query.total([]) == (0, 0.0, None, None)


def test_parts_read_whole_days_from_the_daily_tier_and_the_edges_from_the_hourly_one(app):
    from service.history import query
    from service.stores import stores

    history, now = stores(app).history, now_us()
    start = (now // DAY_US - 20) * DAY_US + 5 * HOUR_US
    found = query.parts(history, query.grid("1d"), start, now, now, 48 * 3600)
    assert [part.source for part in found] == ["1h", *days_then_hours(found[-1].start_us)]
    assert all(a.end_us == b.start_us for a, b in zip(found, found[1:], strict=False))  # no gap, no overlap
    assert found[1].start_us % DAY_US == 0 and found[1].end_us % DAY_US == 0
    brussels = query.parts(history, query.grid("1d", "Europe/Brussels"), start, now, now, 48 * 3600)
    assert [part.source for part in brussels] == ["1h", "raw"]  # UTC days cannot start at Brussels midnight


def test_series_answers_hold_to_their_schemas(client):
    """The series routes serialise their answers directly (thousands of
    points); they must still be what the OpenAPI document says."""
    from service.sensors.schemas import SeriesBatchSchema, SeriesSchema

    hour = int(time.time()) // 3600 * 3600
    old = [{"sensor": "a", "timestamp": _iso_s(hour - h * 3600 - 3 * 86400), "value": 20 + h / 8} for h in range(30)]
    recent = [{"sensor": "a", "timestamp": _iso_s(hour - 60), "value": 21.5}]
    assert client.post("/data", json=old + recent).status_code == 200
    start = hour - 5 * 86400
    one = client.get(f"/v1/sensors/a/series?start={start}&bucket=1h").get_json()
    assert len(one["points"]) == 31 and {s["source"] for s in one["sources"]} == {"1h", "raw"}
    assert SeriesSchema().load(one) == SeriesSchema().load(SeriesSchema().dump(one))
    many = client.get(f"/v1/series?sensors=a,nobody&start={start}&bucket=1d").get_json()
    assert many["unknown"] == ["nobody"]
    assert SeriesBatchSchema().load(many) == SeriesBatchSchema().load(SeriesBatchSchema().dump(many))


def _iso_s(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
