"""Per-key rate limits: 429 with Retry-After, counted in Redis across replicas."""

from __future__ import annotations

from service import keys
from service.auth.keyring import digest_of, key_id_of
from service.redisdb.scripts import lua_source

from .authkeys import bearer

LIMITED = "ak_limited_read_5c1e8a3f7b2d9e4c"
UNLIMITED = "ak_unlimited_read_0d6f2b9e4a7c1e8b"
LIMIT = 3
RATE_KEYS = {
    LIMITED: {"role": "read", "org": "*", "rate_limit": LIMIT},
    UNLIMITED: {"role": "read", "org": "*"},
}


def exhaust_across(first, second):
    """LIMIT requests through ``first``, then one through ``second``; the
    statuses, or None if the one-second window ended part way (slow machine)."""
    statuses = [first.get("/statistics/abc", headers=bearer(LIMITED)).status_code for _ in range(LIMIT)]
    last = second.get("/statistics/abc", headers=bearer(LIMITED))
    return statuses, last


def test_the_limit_holds_across_two_instances_sharing_redis(make_app):
    one, two = make_app(RATE_KEYS).test_client(), make_app(RATE_KEYS).test_client()
    # A fixed window can end between requests on a busy machine: try a few windows.
    for _ in range(5):
        statuses, last = exhaust_across(one, two)
        if last.status_code == 429:
            break
    assert statuses == [200] * LIMIT
    assert last.status_code == 429
    assert last.headers["Retry-After"] == "1"
    body = last.get_json()
    assert body["code"] == 429 and f"{LIMIT} requests per second" in body["message"]


def test_keys_without_a_limit_are_not_limited(make_app):
    client = make_app(RATE_KEYS).test_client()
    assert {client.get("/statistics/abc", headers=bearer(UNLIMITED)).status_code for _ in range(4 * LIMIT)} == {200}


def test_the_counter_is_named_by_a_hash_of_the_key(make_app, redis_client):
    make_app(RATE_KEYS).test_client().get("/statistics/abc", headers=bearer(LIMITED))
    assert redis_client.keys("*") == [keys.rate_limit(key_id_of(digest_of(LIMITED))).encode()]
    assert LIMITED.encode() not in b"".join(redis_client.keys("*"))


def test_the_window_script_counts_expires_and_heals_a_lost_expiry(clean_redis):
    count = clean_redis.register_script(lua_source("service.auth", "ratelimit.lua"))
    counter = keys.rate_limit("0123456789abcdef")
    counted = [2, 1000, "1"]
    assert [count(keys=[counter], args=counted) for _ in range(2)] == [0, 0]
    assert 0 < clean_redis.pttl(counter) <= 1000
    assert 0 < count(keys=[counter], args=counted) <= 1000
    assert 0 < count(keys=[counter], args=[2, 1000, "0"]) <= 1000  # a look only: not counted
    assert clean_redis.get(counter) == b"3"
    clean_redis.persist(counter)
    assert count(keys=[counter], args=counted) == 1000
    assert 0 < clean_redis.pttl(counter) <= 1000
    clean_redis.delete(counter)
    assert count(keys=[counter], args=counted) == 0


def test_healthz_checks_the_rate_limit_script(make_app, redis_client):
    client = make_app(RATE_KEYS).test_client()
    redis_client.script_flush()
    assert client.get("/healthz").status_code == 204
    assert client.get("/statistics/abc", headers=bearer(LIMITED)).status_code == 200
