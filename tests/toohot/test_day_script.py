"""day.lua on real Redis: org guard, dedup, tie-breaking, expiry, too-hot outbox."""

from __future__ import annotations

from service import keys


def _call(app, site, org, ttl, *readings, threshold="40.0"):
    store = app.extensions["toohot"]
    return store._day(keys=[keys.site(site), keys.site_day(site, "2024-07-15")],
                      args=[org, ttl, threshold, *readings])


def test_script_refuses_unknown_site_and_other_org(app, redis_client):
    assert _call(app, "s", "o", 100, "s", 0, "20") == -2
    redis_client.hset(keys.site("s"), mapping={"id": "s", "org": "o"})
    assert _call(app, "s", "other", 100, "s", 0, "20") == -1
    assert redis_client.keys("*day*") == []


def test_script_counts_each_instant_once_and_keeps_the_earliest_max(app, redis_client):
    redis_client.hset(keys.site("s"), mapping={"id": "s", "org": "o"})
    assert _call(app, "s", "o", 100, "s", 120_000_000, "30", "s", 60_000_000, "30", "s", 60_500_000, "29") == [3]
    assert _call(app, "s", "o", 100, "s", 60_000_000, "35", "t", 60_000_000, "10") == [1]
    day = keys.site_day("s", "2024-07-15")
    assert redis_client.hgetall(day) == {b"readings": b"4", b"max": b"30", b"max_at": b"60000000"}
    assert redis_client.zrange(keys.site_day_minutes("s", "2024-07-15"), 0, -1, withscores=True) == [
        (b"1", 30.0), (b"2", 30.0),
    ]
    assert all(0 < redis_client.ttl(key) <= 100 for key in redis_client.keys("*day*"))


def test_script_records_the_first_crossing_until_it_is_marked_published(app, redis_client):
    redis_client.hset(keys.site("s"), mapping={"id": "s", "org": "o"})
    day = keys.site_day("s", "2024-07-15")
    assert _call(app, "s", "o", 100, "s", 0, "24.5", threshold="25.0") == [1]
    assert _call(app, "s", "o", 100, "s", 60_000_000, "26.5", threshold="25.0") == [1, b"26.5", b"25.0"]
    # Until published, every call (even of duplicates only) hands it out again, unchanged.
    assert _call(app, "s", "o", 100, "s", 60_000_000, "26.5", "s", 120_000_000, "28", threshold="25.0") == [
        1, b"26.5", b"25.0"]
    redis_client.hset(day, "hot_published", 1)
    assert _call(app, "s", "o", 100, "s", 180_000_000, "30", threshold="25.0") == [1]
    assert 0 < redis_client.ttl(day) <= 100


def test_script_compares_the_days_maximum_with_the_threshold_in_force(app, redis_client):
    redis_client.hset(keys.site("s"), mapping={"id": "s", "org": "o"})
    assert _call(app, "s", "o", 100, "s", 0, "24", threshold="25.0") == [1]
    # The threshold was lowered: the next call for the day finds the day too hot.
    assert _call(app, "s", "o", 100, "s", 0, "24", threshold="23.0") == [0, b"24", b"23.0"]
