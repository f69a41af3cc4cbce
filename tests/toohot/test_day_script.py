"""day.lua on real Redis: org guard, dedup, tie-breaking, expiry, too-hot outbox."""

from __future__ import annotations

import itertools

from redis.crc import key_slot

from service import keys
from service.stores import stores


def _call(app, site, org, ttl, *readings, threshold="40.0"):
    """day.lua for one day of one site; that day's result."""
    store = stores(app).toohot
    [result] = store._day(keys=[keys.site(site), keys.site_day(site, "2024-07-15")],
                          args=[org, ttl, threshold, len(readings) // 3, *readings])
    return result


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


def _sites_of_one_slot(count: int) -> list[str]:
    """Site ids whose keys share a hash slot, so one call may hold them on a cluster too."""
    slot = key_slot(keys.site("s0").encode())
    candidates = (f"s{n}" for n in itertools.count())
    return list(itertools.islice((site for site in candidates if key_slot(keys.site(site).encode()) == slot), count))


def test_one_call_applies_many_days_each_with_its_own_verdict(app, redis_client):
    a, b, c, x, nobody = _sites_of_one_slot(5)
    for site in (a, b, c):
        redis_client.hset(keys.site(site), mapping={"id": site, "org": "o"})
    redis_client.hset(keys.site(x), mapping={"id": x, "org": "other"})
    store = stores(app).toohot
    readings = {
        (a, "2024-07-15"): [a, 0, "20", a, 60_000_000, "21"],
        (b, "2024-07-15"): [b, 0, "30"],
        (x, "2024-07-15"): [x, 0, "20"],
        (nobody, "2024-07-15"): [nobody, 0, "20"],
        (a, "2024-07-16"): [a, 0, "22", a, 0, "22", a, 1_500_000, "19"],
        (c, "2024-07-15"): [c, 0, "26"],
    }
    call_keys, args = [], []
    for (site, day), sent in readings.items():
        call_keys += (keys.site(site), keys.site_day(site, day))
        args += ["o", 100, "25.0", len(sent) // 3, *sent]
    assert store._day(keys=call_keys, args=args) == [[2], [1, b"30", b"25.0"], -1, -2, [2], [1, b"26", b"25.0"]]
    assert redis_client.hmget(keys.site_day(a, "2024-07-15"), "readings", "max") == [b"2", b"21"]
    assert redis_client.hmget(keys.site_day(a, "2024-07-16"), "readings", "max") == [b"2", b"22"]
    assert not redis_client.exists(keys.site_day(x, "2024-07-15"))
    assert not redis_client.exists(keys.site_day(nobody, "2024-07-15"))


def test_a_posts_days_are_split_into_calls_of_bounded_size(app, monkeypatch):
    from datetime import date

    import service.toohot.store as store_module

    store = stores(app).toohot
    monkeypatch.setattr(store_module, "DAY_CALL_READINGS", 4)
    day = date(2024, 7, 15)
    days = {(site, day): ["o", 100, "25.0", *([site, 0, "20"] * n)] for site, n in (("a", 3), ("b", 1), ("c", 2), ("d", 5))}
    calls = store._day_calls(days)
    assert [pair for call in calls for pair in call] == list(days)
    sizes = [[len(days[pair]) // 3 - 1 for pair in call] for call in calls]
    # A day is never split; a call takes days until it holds the bound.
    assert all(sum(call[:-1]) < 4 for call in sizes)
    if not store.cluster:
        assert sizes == [[3, 1], [2, 5]]
