"""Failed key guesses are throttled per client address and key prefix.

Past AUTH_FAILURES_PER_MINUTE keys that are not valid from one address,
every key from it, the right one included, is answered 429 with Retry-After
until the minute ends: guessing gains nothing. The count holds across
replicas (Redis) and shows in /metrics; clients that never guess wrong pay
nothing for it. Behind a trusted proxy (TRUSTED_PROXIES) each client it
forwarded for is counted alone.
"""

from __future__ import annotations

import ipaddress
import re

from service import keys

from .authkeys import bearer

READER = "ak_throttle_read_7e3c9a1f5b2d8e4c"
KEYS = {READER: {"role": "read", "org": "*"}}
LIMIT = 5


def guesses(client, count: int, address: str = "198.51.100.7", prefix: str = "guess"):
    return [
        client.get("/statistics/abc", headers=bearer(f"{prefix}{n:04d}-wrong-key"),
                   environ_base={"REMOTE_ADDR": address}).status_code
        for n in range(count)
    ]


def test_past_the_limit_wrong_keys_are_throttled_with_retry_after(make_app):
    client = make_app(KEYS, auth_failures_per_minute=LIMIT).test_client()
    assert guesses(client, LIMIT) == [401] * LIMIT
    answer = client.get("/statistics/abc", headers=bearer("yet-another-wrong-key"),
                        environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert "not valid" in answer.get_json()["message"]


def test_a_throttled_address_gets_429_even_with_the_right_key(make_app):
    client = make_app(KEYS, auth_failures_per_minute=LIMIT).test_client()
    guesses(client, LIMIT + 1)
    right = client.get("/statistics/abc", headers=bearer(READER), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert right.status_code == 429


def test_other_addresses_and_right_keys_are_not_slowed(make_app, redis_client):
    client = make_app(KEYS, auth_failures_per_minute=LIMIT).test_client()
    guesses(client, LIMIT + 1)
    elsewhere = client.get("/statistics/abc", headers=bearer(READER), environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert elsewhere.status_code == 200


def test_the_count_holds_across_replicas(make_app):
    one = make_app(KEYS, auth_failures_per_minute=LIMIT).test_client()
    two = make_app(KEYS, auth_failures_per_minute=LIMIT).test_client()
    assert guesses(one, LIMIT) == [401] * LIMIT
    # The second replica has seen no failure yet: its first guess is counted, and refused.
    assert guesses(two, 1) == [429]


def test_guesses_of_one_prefix_from_many_addresses_are_throttled_too(make_app):
    client = make_app(KEYS, auth_failures_per_minute=1).test_client()
    statuses = [guesses(client, 1, address=f"192.0.2.{n}", prefix="shared")[0] for n in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[-1] == 429


def test_the_counters_name_neither_key_nor_its_text(make_app, redis_client):
    client = make_app(KEYS, auth_failures_per_minute=LIMIT).test_client()
    guesses(client, 1, prefix="secretpfx")
    stored = b" ".join(redis_client.keys("*"))
    assert keys.auth_failures("addr:198.51.100.7").encode() in stored
    assert b"secretpf" not in stored


def test_failures_and_throttling_are_counted_in_metrics(make_app):
    client = make_app(KEYS, auth_failures_per_minute=LIMIT).test_client()
    guesses(client, LIMIT + 2)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'sensorhub_auth_failures_total{outcome="unauthorized"}' in metrics
    assert 'sensorhub_auth_failures_total{outcome="throttled"}' in metrics


def test_zero_turns_the_throttle_off(make_app):
    client = make_app(KEYS, auth_failures_per_minute=0).test_client()
    assert set(guesses(client, 30)) == {401}


def test_a_valid_key_is_never_refused_for_its_prefix(make_app):
    client = make_app(KEYS, auth_failures_per_minute=1).test_client()
    prefix = READER[:8]
    statuses = [guesses(client, 1, address=f"192.0.2.{n}", prefix=prefix)[0] for n in range(12)]
    assert statuses[-1] == 429  # the prefix is over its limit for wrong keys
    right = client.get("/statistics/abc", headers=bearer(READER), environ_base={"REMOTE_ADDR": "203.0.113.50"})
    assert right.status_code == 200


def test_wrong_keys_are_counted_with_the_throttle_off(make_app):
    client = make_app(KEYS, auth_failures_per_minute=0).test_client()

    def unauthorized() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        found = re.search(r'^sensorhub_auth_failures_total\{outcome="unauthorized"\} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    before = unauthorized()
    guesses(client, 3)
    assert unauthorized() == before + 3


PROXY = "10.0.0.5"
BEHIND_PROXY = {"trusted_proxies": (ipaddress.ip_network("10.0.0.0/8"),)}


def guesses_forwarded(client, count: int, forwarded_for: str, key_text: str = "wrong-key"):
    return [
        client.get("/statistics/abc", headers={**bearer(f"{key_text}-{n:04d}"), "X-Forwarded-For": forwarded_for},
                   environ_base={"REMOTE_ADDR": PROXY}).status_code
        for n in range(count)
    ]


def test_behind_a_trusted_proxy_each_client_it_forwards_for_is_counted_alone(make_app):
    client = make_app(KEYS, auth_failures_per_minute=LIMIT, **BEHIND_PROXY).test_client()
    assert guesses_forwarded(client, LIMIT + 1, "198.51.100.7")[-1] == 429
    other = client.get("/statistics/abc", headers={**bearer(READER), "X-Forwarded-For": "203.0.113.9"},
                       environ_base={"REMOTE_ADDR": PROXY})
    assert other.status_code == 200
    same = client.get("/statistics/abc", headers={**bearer(READER), "X-Forwarded-For": "198.51.100.7"},
                      environ_base={"REMOTE_ADDR": PROXY})
    assert same.status_code == 429


def test_a_client_that_is_no_trusted_proxy_cannot_escape_the_throttle_by_naming_others(make_app):
    client = make_app(KEYS, auth_failures_per_minute=LIMIT, **BEHIND_PROXY).test_client()
    statuses = [
        client.get("/statistics/abc", headers={**bearer(f"wrong-{n}"), "X-Forwarded-For": f"192.0.2.{n}"},
                   environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code
        for n in range(LIMIT + 2)
    ]
    assert statuses[:LIMIT] == [401] * LIMIT
    assert statuses[-1] == 429
