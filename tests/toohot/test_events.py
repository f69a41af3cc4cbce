"""site.too_hot events on real Redis: once per site and local day, published
after the day's state, repaired by a retry after a crash in between."""

from __future__ import annotations

import pytest
import redis

from service import keys
from service.stores import stores

from .conftest import reading


@pytest.fixture
def too_hot_events(client):
    def fetch() -> list[dict]:
        response = client.get("/v1/events", query_string={"type": "site.too_hot"})
        assert response.status_code == 200, response.json
        return response.json["events"]

    return fetch


def test_several_hot_readings_and_duplicates_publish_one_event(post, set_now, too_hot_events):
    set_now("2024-07-15 18:00")
    batch = [reading(at="2024-07-15 10:00", temperature=24), reading(at="2024-07-15 10:01", temperature=26.5)]
    post(batch + batch)
    post(batch)
    post([reading(at="2024-07-15 11:00", temperature=29), reading(at="2024-07-15 11:01", temperature=31)])
    events = too_hot_events()
    assert len(events) == 1
    event = events[0]
    assert event["id"] == "site.too_hot:abc123:2024-07-15"
    assert (event["type"], event["subject"], event["site"], event["org"]) == (
        "site.too_hot", "abc123", "abc123", "alphacorp")
    # The day's maximum and the threshold when the day first went above it.
    assert (event["date"], event["maxTemperature"], event["threshold"]) == ("2024-07-15", 26.5, 25.0)


def test_cool_day_publishes_nothing(post, set_now, too_hot_events, client):
    set_now("2024-07-15 18:00")
    post([reading(at="2024-07-15 10:00", temperature=24), reading(at="2024-07-15 10:01", temperature=25.0)])
    assert too_hot_events() == []
    assert client.get("/v1/events").json["events"] == []


def test_each_local_day_and_site_has_its_own_event(post, set_now, too_hot_events):
    set_now("2024-07-16 09:00")
    post([reading(at="2024-07-16 08:00", temperature=26), reading(site="def456", at="2024-07-16 08:00", temperature=27)])
    post(reading(at="2024-07-15 15:00", temperature=30))  # late, for yesterday
    assert sorted(event["id"] for event in too_hot_events()) == [
        "site.too_hot:abc123:2024-07-15", "site.too_hot:abc123:2024-07-16", "site.too_hot:def456:2024-07-16",
    ]


def test_lowered_threshold_publishes_at_the_next_reading_and_a_raised_one_publishes_nothing_new(
        client, post, set_now, too_hot_events):
    set_now("2024-07-15 18:00")
    post(reading(at="2024-07-15 10:00", temperature=24))
    assert client.patch("/v1/sites/abc123", json={"threshold": 23}).status_code == 200
    assert too_hot_events() == []  # a threshold change itself publishes nothing
    post(reading(at="2024-07-15 10:01", temperature=22))
    [event] = too_hot_events()
    assert (event["maxTemperature"], event["threshold"]) == (24.0, 23.0)
    assert client.patch("/v1/sites/abc123", json={"threshold": 30}).status_code == 200
    post(reading(at="2024-07-15 10:02", temperature=31))
    assert len(too_hot_events()) == 1


def test_crash_before_publishing_is_repaired_by_the_retry(app, post, set_now, too_hot_events, monkeypatch):
    set_now("2024-07-15 18:00")
    events = stores(app).events
    publish = events.publish

    def crash(*args, **kwargs):
        raise redis.ConnectionError("connection lost")

    monkeypatch.setattr(events, "publish", crash)
    post(reading(at="2024-07-15 10:00", temperature=27), status=503)
    monkeypatch.setattr(events, "publish", publish)
    assert too_hot_events() == []
    # The client retries the unacknowledged post: all duplicates now, and the event goes out.
    assert post(reading(at="2024-07-15 10:00", temperature=27))["duplicates"] == 1
    [event] = too_hot_events()
    assert event["maxTemperature"] == 27.0


def test_crash_after_publishing_before_marking_publishes_nothing_twice(post, set_now, too_hot_events, redis_client):
    set_now("2024-07-15 18:00")
    post(reading(at="2024-07-15 10:00", temperature=27))
    redis_client.hdel(keys.site_day("abc123", "2024-07-15"), "hot_published")
    post(reading(at="2024-07-15 10:00", temperature=27))
    post(reading(at="2024-07-15 10:01", temperature=28))
    assert len(too_hot_events()) == 1
    assert redis_client.hget(keys.site_day("abc123", "2024-07-15"), "hot_published") == b"1"
