"""day.lua on real Redis: org guard, dedup, tie-breaking, expiry."""

from __future__ import annotations

from service import keys


def _call(app, site, org, ttl, *readings):
    store = app.extensions["toohot"]
    return store._day(keys=[keys.site(site), keys.site_day(site, "2024-07-15")], args=[org, ttl, *readings])


def test_script_refuses_unknown_site_and_other_org(app, redis_client):
    assert _call(app, "s", "o", 100, "s", 0, "20") == -2
    redis_client.hset(keys.site("s"), mapping={"id": "s", "org": "o"})
    assert _call(app, "s", "other", 100, "s", 0, "20") == -1
    assert redis_client.keys("*day*") == []


def test_script_counts_each_instant_once_and_keeps_the_earliest_max(app, redis_client):
    redis_client.hset(keys.site("s"), mapping={"id": "s", "org": "o"})
    assert _call(app, "s", "o", 100, "s", 120_000_000, "30", "s", 60_000_000, "30", "s", 60_500_000, "29") == 3
    assert _call(app, "s", "o", 100, "s", 60_000_000, "35", "t", 60_000_000, "10") == 1
    day = keys.site_day("s", "2024-07-15")
    assert redis_client.hgetall(day) == {b"readings": b"4", b"max": b"30", b"max_at": b"60000000"}
    assert redis_client.zrange(keys.site_day_minutes("s", "2024-07-15"), 0, -1, withscores=True) == [
        (b"1", 30.0), (b"2", 30.0),
    ]
    assert all(0 < redis_client.ttl(key) <= 100 for key in redis_client.keys("*day*"))
