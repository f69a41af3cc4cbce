"""GET /v1/sensors/<id>/aggregate and /series, GET /v1/series: exact windows over raw readings."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import keys
from service.redisdb.scripts import ScriptBatch
from service.sensors import store as sensor_store
from service.settings import Settings
from service.stores import stores

from .support import MINUTE_US, aggregate, hour_start_us, iso, post, reading

SECOND_US = 1_000_000


def test_window_is_start_inclusive_end_exclusive(client):
    end = hour_start_us()
    start = end - 15 * MINUTE_US
    post(
        client,
        reading("s", start - 1, 100.0),
        reading("s", start, 1.0),
        reading("s", end - 1, 3.0),
        reading("s", end, 100.0),
    )
    body = aggregate(client, "s", end)
    assert (body["count"], body["avg"], body["min"], body["max"]) == (2, 2.0, 1.0, 3.0)
    assert body["window"] == {"start": iso(start), "end": iso(end), "seconds": 900}


def test_window_spanning_two_buckets_reads_both(client):
    boundary = hour_start_us()
    post(client, reading("s", boundary - 5 * MINUTE_US, 10.0), reading("s", boundary + 5 * MINUTE_US, 20.0))
    assert aggregate(client, "s", boundary + 10 * MINUTE_US)["avg"] == 15.0


def test_empty_window_answers_count_0_and_nulls(client):
    post(client, reading("s", hour_start_us(3), 1.0))
    body = aggregate(client, "s", hour_start_us())
    assert (body["count"], body["avg"], body["min"], body["max"]) == (0, None, None, None)


def test_unknown_sensor_is_404(client):
    aggregate(client, "nobody", hour_start_us(), status=404)


def test_late_reading_lands_in_its_own_window_and_a_duplicate_counts_once(client):
    end = hour_start_us()
    post(client, reading("s", end - 10 * MINUTE_US, 10.0))
    late = reading("s", end - 5 * MINUTE_US, 20.0)
    post(client, late, reading("s", end + 20 * MINUTE_US, 99.0))
    resent = dict(late, timestamp=late["timestamp"].replace("Z", "+00:00"), value=50.0)
    assert post(client, late, resent) == {"accepted": 0, "duplicates": 2}
    body = aggregate(client, "s", end)
    assert (body["count"], body["avg"]) == (2, 15.0)


@pytest.mark.parametrize(("window", "field"), [("59s", "window"), ("49h", "window"), ("15x", "window"), ("0m", "window")])
def test_window_outside_1_minute_to_retention_is_422(client, window, field):
    post(client, reading("s", hour_start_us(), 1.0))
    body = aggregate(client, "s", hour_start_us(), window=window, status=422)
    assert field in body["errors"]["query"]


def test_window_reaching_before_the_retention_is_422(client):
    post(client, reading("s", hour_start_us(), 1.0))
    old_end = hour_start_us(48)
    assert "end" in aggregate(client, "s", old_end, status=422)["errors"]["query"]


def test_window_of_one_minute_and_of_the_whole_retention_are_accepted(client):
    post(client, reading("s", hour_start_us() - SECOND_US, 1.0))
    assert aggregate(client, "s", hour_start_us(), window="1m")["count"] == 1
    body = client.get("/v1/sensors/s/aggregate?window=48h").get_json()
    assert body["count"] == 1 and body["window"]["seconds"] == 48 * 3600


def test_end_accepts_epoch_seconds_and_unencoded_plus_offsets(client):
    end = hour_start_us()
    post(client, reading("s", end - MINUTE_US, 4.0))
    assert client.get(f"/v1/sensors/s/aggregate?end={end / 1e6}").get_json()["count"] == 1
    text = iso(end).replace("Z", "+00:00")
    assert client.get(f"/v1/sensors/s/aggregate?end={text}").get_json()["count"] == 1
    assert client.get("/v1/sensors/s/aggregate?end=yesterday").status_code == 422


def test_answers_say_their_unit_and_convert_on_request(client):
    client.put("/v1/sensors/t", json={"kind": "temperature"})
    end = hour_start_us()
    post(client, reading("t", end - MINUTE_US, 100.0))
    assert aggregate(client, "t", end)["unit"] == "C"
    body = aggregate(client, "t", end, unit="F")
    assert (body["unit"], body["avg"], body["min"]) == ("F", 212.0, 212.0)
    assert aggregate(client, "t", end, unit="K")["max"] == 373.15
    assert "unit" in aggregate(client, "t", end, unit="%", status=422)["errors"]["query"]


def test_no_unit_applies_to_a_sensor_of_no_kind_on_the_routes_about_it(client):
    # Its readings are kept as sent: converting a pressure of 1013.25 sent
    # without a unit "to F" as if it were degrees Celsius gave 1855.85, a
    # wrong number labelled F. (Had a reading named hPa, it would be a
    # pressure sensor.)
    end = hour_start_us()
    start = end - 15 * MINUTE_US
    post(client, reading("press-x", end - MINUTE_US, 1013.25), reading("nounit", end - MINUTE_US, 100.0))
    routes = {
        "": {},
        "/aggregate": {"window": "15m", "end": iso(end)},
        "/series": {"start": iso(start), "end": iso(end), "bucket": "15m"},
        "/export": {"start": iso(start), "end": iso(end)},
    }
    for sensor in ("press-x", "nounit"):
        for path, query in routes.items():
            for unit in ("F", "K", "C"):
                response = client.get(f"/v1/sensors/{sensor}{path}", query_string={**query, "unit": unit})
                assert response.status_code == 422, (sensor, path, unit, response.get_data(as_text=True))
                assert "no kind" in response.get_json()["errors"]["query"]["unit"][0]
            assert client.get(f"/v1/sensors/{sensor}{path}", query_string=query).status_code == 200
    # Without unit=: as stored, in no unit.
    assert (aggregate(client, "press-x", end)["unit"], aggregate(client, "press-x", end)["avg"]) == (None, 1013.25)
    statistics = client.get("/v1/sensors/nounit").get_json()["statistics"]
    assert (statistics["unit"], statistics["last_value"]) == (None, 100.0)
    # Answers about many sensors show it in its own unit (none) whatever unit= asks.
    many = client.get("/v1/series", query_string={"sensors": "press-x", "start": iso(start), "end": iso(end),
                                                  "bucket": "15m", "unit": "F"}).get_json()
    assert (many["series"][0]["unit"], many["series"][0]["points"][0]["avg"]) == (None, 1013.25)
    shown = {one["id"]: one["last_reading"] for one in client.get("/sensors?unit=F").get_json()["sensors"]}
    assert shown["nounit"] == {"at": iso(end - MINUTE_US), "value": 100.0, "unit": None}


def test_a_sensor_never_heard_of_is_404_whatever_unit_is_asked(client):
    for path in ("", "/aggregate"):
        assert client.get(f"/v1/sensors/ghost{path}?unit=F").status_code == 404


def test_a_cleared_sensor_has_an_empty_window(client):
    end = hour_start_us()
    post(client, reading("s", end - MINUTE_US, 4.0))
    client.delete("/statistics/s")
    assert aggregate(client, "s", end)["count"] == 0


def test_a_15_minute_window_reads_only_the_buckets_it_overlaps(client, redis_client, redis_cluster_mode):
    if redis_cluster_mode:
        pytest.skip("command statistics are per node")
    start = hour_start_us(47)
    post(client, *[reading("s", start + m * MINUTE_US, float(m)) for m in range(0, 47 * 60, 10)])
    redis_client.config_resetstat()
    assert aggregate(client, "s", hour_start_us(0) - 5 * MINUTE_US)["count"] == 2
    stats = redis_client.info("commandstats")
    assert stats["cmdstat_hgetall"]["calls"] == 1


def series(client, sensor, start, end, bucket, status=200, **params):
    response = client.get(
        f"/v1/sensors/{sensor}/series", query_string={"start": iso(start), "end": iso(end), "bucket": bucket, **params}
    )
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_series_buckets_are_aligned_and_empty_ones_omitted(client):
    base = hour_start_us(2)
    post(
        client,
        reading("s", base + 1 * MINUTE_US, 1.0),
        reading("s", base + 4 * MINUTE_US, 3.0),
        reading("s", base + 20 * MINUTE_US, 10.0),
        reading("s", base + 61 * MINUTE_US, 7.0),
    )
    body = series(client, "s", base, base + 2 * 3600 * SECOND_US, "15m")
    assert body["points"] == [
        {"t": iso(base), "count": 2, "avg": 2.0, "min": 1.0, "max": 3.0},
        {"t": iso(base + 15 * MINUTE_US), "count": 1, "avg": 10.0, "min": 10.0, "max": 10.0},
        {"t": iso(base + 60 * MINUTE_US), "count": 1, "avg": 7.0, "min": 7.0, "max": 7.0},
    ]
    assert [p["count"] for p in series(client, "s", base, base + 2 * 3600 * SECOND_US, "1h")["points"]] == [3, 1]
    partial = series(client, "s", base + 2 * MINUTE_US, base + 30 * MINUTE_US, "5m")["points"]
    assert [(p["t"], p["count"]) for p in partial] == [(iso(base), 1), (iso(base + 20 * MINUTE_US), 1)]


def test_series_converts_for_display(client):
    client.put("/v1/sensors/t", json={"kind": "temperature"})
    base = hour_start_us()
    post(client, reading("t", base, 0.0))
    assert series(client, "t", base, base + MINUTE_US, "1m", unit="F")["points"][0]["avg"] == 32.0


def test_series_needs_start_before_end(client):
    post(client, reading("s", hour_start_us(), 1.0))
    body = series(client, "s", hour_start_us(1), hour_start_us(2), "1h", status=422)
    assert "end" in body["errors"]["query"]


def test_series_older_than_the_retention_reads_the_history_instead_of_moving_start(client):
    post(client, reading("s", hour_start_us(60), 2.0), reading("s", hour_start_us(), 1.0))
    body = series(client, "s", hour_start_us(72), hour_start_us(-2), "1h")
    assert body["window"]["start"] == iso(hour_start_us(72))
    assert [(p["t"], p["avg"]) for p in body["points"]] == [(iso(hour_start_us(60)), 2.0), (iso(hour_start_us()), 1.0)]
    assert [source["source"] for source in body["sources"]] == ["1h", "raw"]


def series_of(client, sensors, start, end, bucket="15m", status=200):
    response = client.get("/v1/series", query_string={"sensors": sensors, "start": iso(start), "end": iso(end), "bucket": bucket})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_series_of_many_sensors_answers_each_as_its_own_series_does(client):
    base = hour_start_us(2)
    assert client.put("/v1/sensors/t", json={"kind": "temperature", "unit": "F"}).status_code == 201
    post(client, reading("a", base + MINUTE_US, 1.0), reading("a", base + 20 * MINUTE_US, 10.0),
         reading("t", base + 2 * MINUTE_US, 212.0), reading("b", base + 3 * MINUTE_US, 5.0))
    end = base + 2 * 3600 * SECOND_US
    body = series_of(client, "t,a,b", base, end)
    assert [s["sensor"] for s in body["series"]] == ["t", "a", "b"]
    for one in body["series"]:
        alone = series(client, one["sensor"], base, end, "15m", **({"unit": one["unit"]} if one["unit"] else {}))
        assert (one["unit"], one["points"]) == (alone["unit"], alone["points"])
        assert body["window"] == alone["window"]
    # Each in the sensor's own unit, as the dashboard shows its last reading:
    # t declared Fahrenheit (stored as 100 °C).
    assert [one["unit"] for one in body["series"]] == ["F", None, None]
    assert body["series"][0]["points"][0]["avg"] == 212.0
    overview = {one["id"]: one for one in client.get("/sensors").get_json()["sensors"]}
    assert overview["t"]["last_reading"]["unit"] == "F"
    assert (body["bucket"], body["unknown"]) == ("15m", [])


def test_series_of_many_lists_sensors_never_heard_of_as_unknown_in_the_order_asked(client):
    base = hour_start_us(2)
    post(client, reading("a", base + MINUTE_US, 1.0))
    client.put("/v1/sensors/quiet", json={"kind": "humidity"})
    body = series_of(client, "z-none,a,quiet,y-none,a", base, base + 3600 * SECOND_US)
    # A registered sensor without readings has a series, empty.
    assert [(s["sensor"], len(s["points"])) for s in body["series"]] == [("a", 1), ("quiet", 0)]
    assert body["unknown"] == ["z-none", "y-none"]


def test_series_of_many_reads_every_sensor_in_one_pipeline(client, monkeypatch):
    base = hour_start_us(2)
    post(client, *[reading(f"s{n}", base + MINUTE_US, float(n)) for n in range(20)])
    executed = []

    class CountedBatch(ScriptBatch):
        def execute(self):
            executed.append(len(self.pipe))
            return super().execute()

    monkeypatch.setattr(sensor_store, "ScriptBatch", CountedBatch)
    body = series_of(client, ",".join(f"s{n}" for n in range(20)), base, base + 3600 * SECOND_US)
    assert [s["points"][0]["avg"] for s in body["series"]] == [float(n) for n in range(20)]
    # One round trip on a single Redis (on a cluster, one per node, sent together).
    assert executed == [20]


@pytest.mark.parametrize(("sensors", "problem"), [
    ("", "Sensor ids"),
    ("a,,b", "Sensor ids"),
    ("a b", "Sensor ids"),
    (",".join(f"s{n}" for n in range(101)), "At most 100"),
])
def test_series_of_many_refuses_bad_sensor_lists(client, redis_client, sensors, problem):
    body = series_of(client, sensors, hour_start_us(2), hour_start_us(1), status=422)
    assert problem in body["errors"]["query"]["sensors"][0]


def test_series_of_many_checks_the_range_like_one_series(client):
    body = series_of(client, "a", hour_start_us(1), hour_start_us(2), status=422)
    assert "end" in body["errors"]["query"]
    assert client.get("/v1/series", query_string={"start": iso(hour_start_us(1))}).status_code == 422


def test_bucket_ttl_covers_the_retention_when_it_exceeds_dedup(redis_url, redis_cluster_mode, clean_redis):
    from service import create_app

    # Without history tiers: with them, a bucket hash around now has no TTL
    # until the worker rolls it up (tests/history/test_seal.py).
    long = Settings(redis_url=redis_url, redis_cluster=redis_cluster_mode, log_requests=False, retention=72 * 3600,
                    rollups=())
    app = create_app(long)
    post(app.test_client(), reading("s", hour_start_us(), 1.0))
    bucket = keys.sensor_bucket("s", 0, hour_start_us() // (long.bucket_seconds * SECOND_US))
    assert clean_redis.ttl(bucket) > 71 * 3600
    stores(app).client.close()


def test_readings_leave_the_window_store_after_the_retention_but_still_count(redis_url, redis_cluster_mode, clean_redis):
    from service import create_app

    # Without history tiers (see above).
    short = Settings(redis_url=redis_url, redis_cluster=redis_cluster_mode, log_requests=False, dedup_ttl=1, retention=2,
                     rollups=())
    app = create_app(short)
    client = app.test_client()
    now = time.time_ns() // 1000
    post(client, reading("s", now - SECOND_US, 5.0))
    registry = stores(app).sensors
    assert registry.windows(["s"], now - 2 * SECOND_US, now)[1][0]["count"] == 1
    time.sleep(2.2)
    assert registry.windows(["s"], now - 2 * SECOND_US, now)[1][0]["count"] == 0
    assert client.get("/statistics/s").get_json()["count"] == 1
    stores(app).client.close()


# -- property: the window aggregate equals a plain Python model ------------

readings_strategy = st.lists(
    st.tuples(
        st.integers(0, 3 * 3600 - 1),  # seconds into a 3-hour span
        st.integers(0, 999_999),  # microseconds
        st.floats(-1000, 1000, allow_nan=False).map(lambda v: round(v, 3)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    readings=readings_strategy,
    window_minutes=st.integers(1, 180),
    end_offset_s=st.integers(0, 3 * 3600),
    resend=st.integers(0, 5),
)
def test_window_aggregate_matches_a_python_model(client, readings, window_minutes, end_offset_s, resend):
    client.delete("/statistics/p")  # a clear starts a new generation: the window store is empty again
    base = hour_start_us(4)
    items = [reading("p", base + s * SECOND_US + us, v) for s, us, v in readings]
    if items:
        post(client, *items)
        post(client, *items[:resend])  # duplicates: the first value stays
    first = {}
    for s, us, v in readings:
        first.setdefault(base + s * SECOND_US + us, v)
    end = base + end_offset_s * SECOND_US
    start = end - window_minutes * MINUTE_US
    inside = [v for t, v in first.items() if start <= t < end]
    if not items:
        return
    body = aggregate(client, "p", end, window=f"{window_minutes}m")
    assert body["count"] == len(inside)
    if inside:
        assert body["avg"] == pytest.approx(sum(inside) / len(inside), abs=1e-9)
        assert (body["min"], body["max"]) == (min(inside), max(inside))
    else:
        assert body["avg"] is None
