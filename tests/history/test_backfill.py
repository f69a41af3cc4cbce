"""The history backfill: bucket hashes of readings written before history
existed are rolled up by the worker, each whole and exactly once, while
ingest leaves their readings alone; then ``history:backfilled`` is set."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from service import create_app, keys
from service.history.store import HistoryStore
from service.stores import stores
from tests.history.tier_model import DAY_US, HOUR_US, TierModel, app_before_history, stored, timestamp

NOW = time.time()
BASE_US = int(NOW) // 3600 * HOUR_US - 10 * DAY_US
SENSORS = ["a", "b.c", "d:e"]


@pytest.fixture
def legacy(settings, clean_redis):
    """A client of an app of before history (``app_before_history``)."""
    app = app_before_history(settings)
    yield app.test_client()
    stores(app).client.close()


def batch(hours, sensors=SENSORS, value=lambda h, s: 20 + h / 4, minute=7):
    return [
        {"sensor": sensor, "timestamp": timestamp(BASE_US + h * HOUR_US + minute * 60_000_000), "value": value(h, sensor)}
        for h in hours
        for sensor in sensors
    ]


def post(client, model, readings):
    assert client.post("/data", json=readings).status_code == 200
    if model is not None:
        model.post(readings)


def whole_range(history, sensor):
    return {tier: stored(history, sensor, tier, BASE_US - 400 * DAY_US, BASE_US + 400 * DAY_US) for tier in history.tiers}


def expected(model, history, sensor):
    return {tier: model.buckets(sensor, tier, NOW) for tier in history.tiers}


def run_to_the_end(history, count=1000) -> int:
    steps = 1
    while history.backfill_step(count=count):
        steps += 1
        assert steps < 10_000
    return steps


def test_ingest_does_not_roll_up_readings_landing_in_an_unmarked_bucket_hash(app, client, legacy):
    history = stores(app).history
    post(legacy, None, batch(range(3)))
    post(client, None, batch(range(3), minute=30))
    assert all(buckets == {} for buckets in whole_range(history, "a").values())
    post(client, None, batch([5], minute=30))
    assert [b.count for b in history.read("a", history.tiers[0], BASE_US, BASE_US + DAY_US)] == [1]


def test_backfill_rolls_up_every_reading_of_before_exactly_once(app, client, legacy, redis_client):
    history = stores(app).history
    model = TierModel()
    post(legacy, model, batch(range(0, 60, 2)))
    post(legacy, model, batch(range(0, 60, 2), value=lambda h, s: 99))  # duplicates: the first copy won
    post(client, model, batch(range(0, 60, 2), minute=40, value=lambda h, s: 0.1 + 0.2))  # late, into legacy hashes
    post(client, model, batch(range(1, 60, 2), value=lambda h, s: -h))  # new hashes: rolled up by ingest
    run_to_the_end(history, count=7)
    assert redis_client.exists(keys.HISTORY_BACKFILLED)
    assert not redis_client.exists(keys.HISTORY_BACKFILL)
    for sensor in SENSORS:
        assert whole_range(history, sensor) == expected(model, history, sensor)
    assert history.backfill_step() is False, "once done, nothing more to do"
    # A second backfill (the flag lost) finds every hash marked: nothing counted twice.
    redis_client.delete(keys.HISTORY_BACKFILLED)
    run_to_the_end(history)
    for sensor in SENSORS:
        assert whole_range(history, sensor) == expected(model, history, sensor)


def test_after_the_backfill_new_readings_roll_up_once(app, client, legacy):
    history = stores(app).history
    model = TierModel()
    post(legacy, model, batch(range(4)))
    run_to_the_end(history)
    post(client, model, batch(range(4), minute=50))
    assert whole_range(history, "a") == expected(model, history, "a")


def test_a_bucket_hash_of_a_cleared_generation_is_skipped(app, client, legacy, redis_client):
    history = stores(app).history
    post(legacy, None, batch(range(4)))
    assert client.delete("/statistics/a").status_code == 204
    model = TierModel()
    post(client, model, batch([2, 9], sensors=["a"], minute=15))  # the new gen's own readings
    run_to_the_end(history)
    assert whole_range(history, "a") == expected(model, history, "a")
    old = keys.sensor_bucket("a", 0, BASE_US // HOUR_US)
    assert redis_client.exists(old) and not redis_client.hexists(old, keys.ROLLED_FIELD)
    assert list(redis_client.scan_iter(match=keys.sensor_rollup_chunk("a", "*", 0, "*"))) == []


def test_the_script_does_nothing_to_a_marked_or_missing_hash(app, client, redis_client):
    history = stores(app).history
    post(client, None, batch([0], sensors=["a"]))
    bucket = keys.sensor_bucket("a", 0, BASE_US // HOUR_US)
    assert redis_client.hexists(bucket, keys.ROLLED_FIELD)
    assert history._roll_up([bucket, keys.sensor_bucket("a", 0, 12)], NOW) == 0
    assert not redis_client.exists(keys.sensor_bucket("a", 0, 12)), "no marker-only hash without a TTL"
    assert [b.count for b in history.read("a", history.tiers[0], BASE_US, BASE_US + HOUR_US)] == [1]


def test_backfill_resumes_in_a_new_worker_where_the_last_one_stopped(app, client, legacy, redis_client, caplog):
    model = TierModel()
    post(legacy, model, batch(range(0, 24 * 8), sensors=["a", "b.c"]))
    first = stores(app).history
    with caplog.at_level(logging.INFO, logger="sensorhub.history"):
        # On a cluster the first primaries scanned may hold none of them.
        while int(redis_client.hget(keys.HISTORY_BACKFILL, "rolled") or 0) == 0:
            assert first.backfill_step(count=10) is True
    position = redis_client.hgetall(keys.HISTORY_BACKFILL)
    assert any(value != b"done" for field, value in position.items() if field != b"rolled"), "a scan cursor kept"
    rolled_first = int(position[b"rolled"])
    assert 0 < rolled_first < 2 * 24 * 8
    progress = [r for r in caplog.records if r.getMessage() == "history backfill"]
    assert progress and progress[-1].fields["buckets"] == rolled_first
    second = HistoryStore(redis_client, stores(app).scripts, stores(app).settings)
    with caplog.at_level(logging.INFO, logger="sensorhub.history"):
        run_to_the_end(second, count=10)
    done = [r for r in caplog.records if r.getMessage() == "history backfill done"]
    assert done and done[-1].fields["buckets"] == 2 * 24 * 8
    for sensor in ("a", "b.c"):
        assert whole_range(first, sensor) == expected(model, first, sensor)


def test_backfill_reaches_the_bucket_hashes_on_every_node(app, client, legacy, redis_client, redis_cluster_mode):
    """On a cluster the sensors' keys spread over every primary: each one's scan runs to its end."""
    history = stores(app).history
    sensors = [f"n-{n}" for n in range(40)]
    model = TierModel()
    post(legacy, model, batch(range(3), sensors=sensors))
    if redis_cluster_mode:
        holding = {redis_client.get_node_from_key(keys.sensor(sensor)).name for sensor in sensors}
        assert len(holding) == len(redis_client.get_primaries()) > 1
    run_to_the_end(history, count=5)
    for sensor in sensors:
        assert whole_range(history, sensor) == expected(model, history, sensor)


def test_backfill_and_the_seal_of_hashes_around_now_count_each_reading_once(app, client, legacy, redis_client):
    """Around now, an unmarked bucket hash may be the seal's (ingest's
    deferred zone): whichever of the two rolls it up first marks it, the
    other skips it; rolled up by the backfill, it still gets its TTL."""
    history = stores(app).history
    model = TierModel()
    now_hour_us = int(NOW) // 3600 * HOUR_US
    at = lambda minute, sensor: {"sensor": sensor, "timestamp": timestamp(now_hour_us + minute * 60_000_000), "value": minute}  # noqa: E731
    post(legacy, model, [at(1, "old")])  # written before history: a TTL, no marker
    post(client, model, [at(2, "old"), at(3, "new")])  # both wait for the seal; "new" has no TTL yet
    assert redis_client.ttl(keys.sensor_bucket("new", 0, now_hour_us // HOUR_US)) == -1
    run_to_the_end(history)
    for sensor in ("old", "new"):
        bucket = keys.sensor_bucket(sensor, 0, now_hour_us // HOUR_US)
        assert redis_client.hexists(bucket, keys.ROLLED_FIELD)
        assert redis_client.ttl(bucket) > 47 * 3600
    history.seal_step(now=NOW + 2 * 3600)
    for sensor in ("old", "new"):
        assert whole_range(history, sensor) == expected(model, history, sensor)


def test_backfill_splits_a_bucket_hash_longer_than_the_finest_tier(settings, clean_redis):
    """BUCKET_SECONDS of two hours: a bucket hash spans two hourly buckets."""
    two_hours = dataclasses.replace(settings, bucket_seconds=7200)
    before, app = app_before_history(two_hours), create_app(two_hours)
    try:
        model = TierModel()
        post(before.test_client(), model, batch(range(0, 12), minute=59) + batch(range(0, 12), minute=1))
        history = stores(app).history
        run_to_the_end(history)
        for sensor in SENSORS:
            assert whole_range(history, sensor) == expected(model, history, sensor)
    finally:
        stores(before).client.close()
        stores(app).client.close()
