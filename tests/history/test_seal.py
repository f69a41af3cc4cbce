"""Readings around now wait in their bucket hash and are rolled up whole by
the worker an hour after the hour ends; the others roll up in the call that
accepts them. Either way every distinct reading is in the tiers once."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from fractions import Fraction

from service import keys
from service.history.store import DEFER_SECONDS
from service.readings.validation import parse_batch
from service.stores import stores

HOUR_US = 3600 * 1_000_000


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat()


def ingest(app, readings: list[tuple[str, int, float]], now: float) -> int:
    """Ingest (sensor, instant us, value) as if it were ``now``."""
    items = [{"sensor": sensor, "timestamp": iso(us), "value": value} for sensor, us, value in readings]
    groups, _ = parse_batch(items, max_batch=10_000, bucket_us=HOUR_US)
    return stores(app).readings.ingest(groups, now=now)


def hourly(app, sensor: str, start_us: int, end_us: int):
    history = stores(app).history
    return history.read(sensor, history.tiers[0], start_us, end_us)


def test_readings_of_the_current_hour_wait_without_a_ttl_until_the_worker_rolls_them_up(app, clean_redis):
    now = time.time()
    hour = int(now * 1_000_000) // HOUR_US * HOUR_US
    ingest(app, [("s", hour + 1_000_000, 20.5), ("s", hour + 2_000_000, 21.25)], now)
    bucket_key = keys.sensor_bucket("s", 0, hour // HOUR_US)
    assert clean_redis.ttl(bucket_key) == -1  # kept until rolled up: nothing waiting is lost
    assert hourly(app, "s", hour, hour + HOUR_US) == []
    assert stores(app).history.seal_step(now) == 0  # not an hour past its end yet

    later = hour / 1_000_000 + 3600 + DEFER_SECONDS + 1
    assert stores(app).history.seal_step(later) == 1
    (bucket,) = hourly(app, "s", hour, hour + HOUR_US)
    assert (bucket.count, bucket.sum, bucket.min, bucket.max) == (2, 41.75, 20.5, 21.25)
    assert (bucket.first_us, bucket.first, bucket.last_us, bucket.last) == (hour + 1_000_000, 20.5, hour + 2_000_000, 21.25)
    assert clean_redis.hget(bucket_key, keys.ROLLED_FIELD) == b"1"
    assert 0 < clean_redis.ttl(bucket_key) <= stores(app).history.raw_ttl
    assert stores(app).history.seal_step(later + 1) == 0  # the horizon did not move


def test_a_late_reading_into_a_rolled_up_hour_rolls_up_in_the_call_that_accepts_it(app, clean_redis):
    now = time.time()
    hour = (int(now * 1_000_000) // HOUR_US - 3) * HOUR_US  # three hours ago: outside the waiting zone
    ingest(app, [("s", hour + 5_000_000, 1.5)], now)
    assert [b.count for b in hourly(app, "s", hour, hour + HOUR_US)] == [1]
    assert ingest(app, [("s", hour + 5_000_000, 9.0), ("s", hour + 6_000_000, 2.5)], now) == 1  # one duplicate
    (bucket,) = hourly(app, "s", hour, hour + HOUR_US)
    assert (bucket.count, bucket.sum, bucket.max, bucket.last) == (2, 4.0, 2.5, 2.5)


def test_sealing_joins_waiting_and_late_readings_exactly_once(app, clean_redis):
    now = time.time()
    hour = int(now * 1_000_000) // HOUR_US * HOUR_US
    values = [0.1, 0.2, 0.3, 1e-9, 123456.789]
    ingest(app, [("s", hour + i * 1_000_000, v) for i, v in enumerate(values)], now)
    # The same readings again, re-sent: duplicates, counted nowhere.
    ingest(app, [("s", hour + i * 1_000_000, v + 1) for i, v in enumerate(values)], now)
    later = hour / 1_000_000 + 3600 + DEFER_SECONDS + 1
    stores(app).history.seal_step(later)
    # After sealing, one more late reading into that hour rolls up at once.
    ingest(app, [("s", hour + 3_599_000_000, -7.0)], later)
    (bucket,) = hourly(app, "s", hour, hour + HOUR_US)
    assert bucket.count == 6
    assert Fraction(bucket.sum) == sum(map(Fraction, [*values, -7.0]))
    assert (bucket.min, bucket.max, bucket.last) == (-7.0, 123456.789, -7.0)
    daily = stores(app).history.read("s", stores(app).history.tiers[1], hour - 86400 * 1_000_000, hour + HOUR_US)
    assert [b.count for b in daily] == [6]


def test_the_plan_answers_from_the_raw_readings_back_to_where_the_tiers_are_sealed(app, clean_redis):
    history = stores(app).history
    now = time.time()
    now_us = int(now * 1_000_000)
    week = 7 * 86400 * 1_000_000
    # Nothing sealed yet: the raw readings answer all they hold.
    raw = [s for s in history.plan(now_us - week, now_us, now_us, 48 * 3600) if s.source == "raw"]
    assert raw[0].start_us <= now_us - 48 * HOUR_US
    history.seal_step(now)
    through = history.horizon(now) * HOUR_US
    history._sealed = (float("-inf"), None)  # forget the cached horizon
    segments = history.plan(now_us - week, now_us, now_us, 48 * 3600)
    assert [s.source for s in segments] == ["1h", "raw"]
    assert segments[1].start_us == min(through, -(-(now_us - 48 * HOUR_US) // HOUR_US) * HOUR_US)
    assert segments[0].end_us == segments[1].start_us


def test_clearing_a_sensor_gives_its_waiting_bucket_hashes_their_ttl(app, client, clean_redis):
    now = time.time()
    hour = int(now * 1_000_000) // HOUR_US * HOUR_US
    ingest(app, [("s", hour + 1_000_000, 20.5)], now)
    bucket_key = keys.sensor_bucket("s", 0, hour // HOUR_US)
    assert clean_redis.ttl(bucket_key) == -1
    assert client.delete("/statistics/s").status_code in (200, 204)
    assert clean_redis.ttl(bucket_key) > 0
    assert clean_redis.hget(keys.sensor("s"), keys.SensorStats.UNSEALED) is None
