"""GET /sensors/changes for one org (an org key, or org= of an all-orgs
key): its cursor, completeness, limit, fleet count and so its ETag depend
on that org's sensors only. Another org's readings, new sensors or sensors
turning offline leave its answer as it was (an idle org's page keeps its
304s); its own changes are answered as the whole fleet's feed answers them."""

from __future__ import annotations

import json
import time

import pytest

from service import keys
from service.stores import stores
from tests.auth.authkeys import ALL_ADMIN, ALL_READ, ALPHA_INGEST, ALPHA_READ, BETA_INGEST, KEYS, bearer

# The two ways of reading one org's feed: an org key, or an all-orgs key asking for the org.
READERS = {"org key": (ALPHA_READ, ""), "all-orgs key with org=": (ALL_READ, "&org=alphacorp")}


@pytest.fixture
def app(make_app):
    return make_app(api_keys_text=json.dumps(KEYS))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(params=list(READERS))
def alpha_feed(request, client):
    """GET /sensors/changes as one of the ways to read alphacorp's feed."""
    key, org = READERS[request.param]

    def get(since_ms: int, etag: str | None = None, **params):
        query = f"since={since_ms}{org}" + "".join(f"&{name}={value}" for name, value in params.items())
        headers = {**bearer(key), **({"If-None-Match": etag} if etag else {})}
        return client.get("/sensors/changes?" + query, headers=headers)

    return get


def post_readings(client, key: str, *sensors: str) -> None:
    body = [{"sensor": sensor, "timestamp": time.time(), "value": 21.0} for sensor in sensors]
    assert client.post("/data", json=body, headers=bearer(key)).status_code == 200


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def ids(answer) -> list[str]:
    return [sensor["id"] for sensor in answer.json["sensors"]]


def test_another_orgs_reading_leaves_an_org_keys_idle_feed_a_304(client, alpha_feed):
    since = ms(time.time())
    idle = alpha_feed(since)
    assert idle.status_code == 200 and idle.json["sensors"] == [] and idle.json["next_cursor"] == since
    assert alpha_feed(since, idle.headers["ETag"]).status_code == 304

    post_readings(client, BETA_INGEST, "b-1")
    assert alpha_feed(since, idle.headers["ETag"]).status_code == 304
    again = alpha_feed(since)
    assert {**again.json, "server_time": None} == {**idle.json, "server_time": None}
    assert again.headers["ETag"] == idle.headers["ETag"]


def test_another_orgs_new_sensors_leave_an_org_keys_fleet_count_as_it_was(client, alpha_feed):
    post_readings(client, ALPHA_INGEST, "a-1")
    since = ms(time.time() + 3)  # past a-1 and the feed's overlap
    time.sleep(0.01)
    before = alpha_feed(since)
    assert before.json["fleet"] == 1
    post_readings(client, BETA_INGEST, "b-1", "b-2", "b-3")
    after = alpha_feed(since, before.headers["ETag"])
    assert after.status_code == 304
    assert alpha_feed(since).json["fleet"] == 1


def test_another_orgs_changes_count_towards_no_limit_of_an_org_keys_feed(client, redis_client, alpha_feed):
    since = ms(time.time())
    post_readings(client, ALPHA_INGEST, "a-1")
    post_readings(client, BETA_INGEST, "b-1", "b-2", "b-3")
    answer = alpha_feed(since, limit=2)
    assert answer.json["complete"] is True and ids(answer) == ["a-1"]
    # The cursor is alpha's change, not beta's later ones.
    assert answer.json["next_cursor"] == ms(redis_client.zscore(keys.SENSORS_SEEN, "a-1"))
    assert answer.json["next_cursor"] < ms(redis_client.zscore(keys.SENSORS_SEEN, "b-3"))


def test_an_org_keys_feed_says_list_again_when_its_own_changes_pass_the_limit(client, alpha_feed):
    since = ms(time.time())
    post_readings(client, ALPHA_INGEST, "a-1", "a-2", "a-3")
    post_readings(client, BETA_INGEST, "b-1")
    answer = alpha_feed(since, limit=2)
    assert answer.json["complete"] is False and answer.json["sensors"] == [] and answer.json["next_cursor"] == since
    assert sorted(ids(alpha_feed(since, limit=3))) == ["a-1", "a-2", "a-3"]


def test_another_orgs_sensor_turning_offline_leaves_an_org_keys_feed_as_it_was(app, client, redis_client,
                                                                                 alpha_feed):
    post_readings(client, ALPHA_INGEST, "a-1")
    post_readings(client, BETA_INGEST, "b-1", "b-2")
    offline_after = stores(app).heartbeats.offline_after
    now = time.time()
    since = now - 10
    # Beta's sensors turned offline after the cursor; alpha's long before it.
    redis_client.zadd(keys.SENSORS_SEEN, {"b-1": since - offline_after + 4, "b-2": since - offline_after + 5,
                                          "a-1": since - offline_after - 100})
    idle = alpha_feed(ms(since), limit=1)
    assert idle.json["sensors"] == [] and idle.json["complete"] is True
    assert idle.json["next_cursor"] == ms(since)

    # Alpha's own sensor turning offline is its change, and its cursor.
    turned = since - offline_after + 3
    redis_client.zadd(keys.SENSORS_SEEN, {"a-1": turned})
    answer = alpha_feed(ms(since), idle.headers["ETag"], limit=1)
    assert answer.status_code == 200 and answer.json["complete"] is True
    assert [(s["id"], s["status"]) for s in answer.json["sensors"]] == [("a-1", "offline")]
    assert answer.json["next_cursor"] == ms(turned + offline_after)


@pytest.mark.parametrize("quiet_sensors", [0, 12], ids=["a small org: its index read", "a large org: the ranges read"])
def test_an_org_behind_many_changes_of_others_gets_its_own_changes_only(app, client, alpha_feed, monkeypatch,
                                                                         quiet_sensors):
    """More changes of every org than the feed reads at first: the rest is
    read from the org's index or from the ranges, whichever is smaller, and
    the answer is the same."""
    for n in range(quiet_sensors):
        assert client.put(f"/v1/sensors/quiet-{n}", json={"org": "alphacorp", "kind": "co2"},
                          headers=bearer(ALL_ADMIN)).status_code == 201
    redis_client = stores(app).client
    index_reads, smembers = [], redis_client.smembers
    monkeypatch.setattr(redis_client, "smembers", lambda name: index_reads.append(name) or smembers(name))
    since = ms(time.time())
    post_readings(client, BETA_INGEST, *(f"b-{n}" for n in range(5)))
    post_readings(client, ALPHA_INGEST, "a-1")
    post_readings(client, BETA_INGEST, *(f"b-{n}" for n in range(5, 10)))
    answer = alpha_feed(since, limit=2)
    assert answer.json["complete"] is True and ids(answer) == ["a-1"]
    assert answer.json["next_cursor"] == ms(redis_client.zscore(keys.SENSORS_SEEN, "a-1"))
    assert index_reads == ([keys.sensors_by("org", "alphacorp")] if quiet_sensors == 0 else [])


def test_another_orgs_sensor_left_in_an_orgs_index_counts_towards_no_limit(client, redis_client, alpha_feed):
    """The registry's org index may hold a sensor that has since gone to
    another org; its metadata says whose it is."""
    since = ms(time.time())
    post_readings(client, BETA_INGEST, "b-1", "b-2", "b-3")
    redis_client.sadd(keys.sensors_by("org", "alphacorp"), "b-1", "b-2", "b-3")
    post_readings(client, ALPHA_INGEST, "a-1")
    answer = alpha_feed(since, limit=2)
    assert answer.json["complete"] is True and ids(answer) == ["a-1"]
    assert answer.json["next_cursor"] == ms(redis_client.zscore(keys.SENSORS_SEEN, "a-1"))


def test_an_org_keys_feed_answers_a_mac_registered_to_its_sensor_as_that_sensor(client, alpha_feed):
    mac = "02:00:00:00:00:a1"
    since = ms(time.time())
    assert client.post("/heartbeat", json={"mac_address": mac}, headers=bearer(ALPHA_INGEST)).status_code == 200
    assert ids(alpha_feed(since)) == [mac]
    assert client.put("/v1/sensors/boiler-a", json={"org": "alphacorp", "kind": "temperature", "mac": mac},
                      headers=bearer(ALL_ADMIN)).status_code == 201
    answer = alpha_feed(since)
    assert ids(answer) == ["boiler-a"] and answer.json["sensors"][0]["mac_address"] == mac
