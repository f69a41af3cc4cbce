"""Offline and back-online transitions, claimed exactly once (real Redis)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from service import keys
from service.heartbeats.detector import PAGE, OfflineDetector
from service.heartbeats.store import status_keys
from service.stores import stores


def stream_types(redis_client) -> list[tuple[str, str]]:
    return [(f[b"type"].decode(), f[b"subject"].decode()) for _, f in redis_client.xrange(keys.EVENTS_STREAM)]


def test_silent_sensor_goes_offline_exactly_once(store, detector, clean_redis):
    t0 = 1_700_000_000.0
    store.heartbeat("02:00:00:00:00:01", now=t0)
    assert detector.run_once(now=t0 + store.offline_after - 1) == []
    events = detector.run_once(now=t0 + store.offline_after + 1)
    assert [(e["type"], e["sensor"]) for e in events] == [("sensor.offline", "02:00:00:00:00:01")]
    assert events[0]["last_heard"] == "2023-11-14T22:13:20.000Z"
    assert detector.run_once(now=t0 + store.offline_after + 30) == []
    assert stream_types(clean_redis) == [("sensor.offline", "02:00:00:00:00:01")]


def test_racing_checkers_claim_each_transition_once(app, store, clean_redis):
    t0 = 1_700_000_000.0
    for n in range(30):
        store.heartbeat(f"02:00:00:00:01:{n:02x}", now=t0 + n * 0.001)
    start = threading.Barrier(6)

    def check():
        detector = OfflineDetector(stores(app).client, store)
        start.wait()
        for step in range(5):
            detector.run_once(now=t0 + store.offline_after + 1 + step)

    threads = [threading.Thread(target=check) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = stream_types(clean_redis)
    assert len(events) == 30
    assert {subject for _, subject in events} == {f"02:00:00:00:01:{n:02x}" for n in range(30)}


def test_heartbeat_after_offline_emits_online_event(store, detector, clean_redis):
    t0 = 1_700_000_000.0
    store.heartbeat("02:00:00:00:00:02", now=t0)
    detector.run_once(now=t0 + store.offline_after + 1)
    store.heartbeat("02:00:00:00:00:02", now=t0 + store.offline_after + 5)
    assert stream_types(clean_redis) == [("sensor.offline", "02:00:00:00:00:02"), ("sensor.online", "02:00:00:00:00:02")]
    assert clean_redis.zcard(keys.EVENTS_OFFLINE) == 0
    # A second silence is a second offline event.
    detector.run_once(now=t0 + 2 * store.offline_after + 10)
    assert [t for t, _ in stream_types(clean_redis)] == ["sensor.offline", "sensor.online", "sensor.offline"]


def test_reading_after_offline_brings_sensor_back_online(app, client, store, detector, clean_redis):
    t0 = time.time() - store.offline_after - 60
    stores(app).readings.ingest({"r-1": (0, "2021-11-08T21:38:09Z", 1.0, {0: [0, 1.0]})}, now=t0)
    assert [e["type"] for e in detector.run_once(now=t0 + store.offline_after + 1)] == ["sensor.offline"]
    client.post("/data", json=[{"sensor": "r-1", "timestamp": "2021-11-08T22:38:09Z", "value": 2.0}])
    assert [e["type"] for e in detector.run_once()] == ["sensor.online"]
    assert detector.run_once() == []


def test_transition_claimed_by_a_process_that_died_is_published_by_the_next_check(store, detector, clean_redis):
    t0 = 1_700_000_000.0
    store.heartbeat("02:00:00:00:00:03", now=t0)
    now = t0 + store.offline_after + 1
    # The claim alone, as a process dying before publishing would leave it.
    outbox = store._status(keys=status_keys("02:00:00:00:00:03"),
                           args=["02:00:00:00:00:03", repr(t0), repr(now - store.offline_after), f"{now:.6f}", "x", ""])
    assert len(outbox) == 1 and clean_redis.xlen(keys.EVENTS_STREAM) == 0
    detector.run_once(now=now + 1)
    assert stream_types(clean_redis) == [("sensor.offline", "02:00:00:00:00:03")]
    assert clean_redis.llen(keys.sensor_outbox("02:00:00:00:00:03")) == 0


def test_event_published_but_not_removed_from_outbox_is_not_published_twice(app, store, detector, clean_redis):
    t0 = 1_700_000_000.0
    store.heartbeat("02:00:00:00:00:04", now=t0)
    now = t0 + store.offline_after + 1
    outbox = store._status(keys=status_keys("02:00:00:00:00:04"),
                           args=["02:00:00:00:00:04", repr(t0), repr(now - store.offline_after), f"{now:.6f}", "x", ""])
    stores(app).events.publish_outbox("02:00:00:00:00:04", outbox, now)
    clean_redis.rpush(keys.sensor_outbox("02:00:00:00:00:04"), *outbox)  # as if the removal never happened
    detector.run_once(now=now + 1)
    assert stream_types(clean_redis) == [("sensor.offline", "02:00:00:00:00:04")]


def test_sensors_sharing_one_last_heard_time_across_pages_all_go_offline(app, store, detector, clean_redis):
    t0 = 1_700_000_000.0
    clean_redis.zadd(keys.SENSORS_SEEN, {f"s-{n}": t0 for n in range(PAGE + 150)})
    clean_redis.zadd(keys.SENSORS_SEEN, {f"u-{n}": t0 - 1 for n in range(PAGE - 10)})
    events = detector.run_once(now=t0 + store.offline_after + 1)
    assert len(events) == 2 * PAGE + 140
    assert clean_redis.xlen(keys.EVENTS_STREAM) == 2 * PAGE + 140


@pytest.mark.parametrize("moment", [0.0, 951_782_400.5, 1_709_164_800.25, 4_102_444_799.999])
def test_last_heard_is_formatted_like_python(store, detector, moment):
    store.heartbeat("02:00:00:00:00:05", now=moment)
    (event,) = detector.run_once(now=moment + store.offline_after + 1)
    expected = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert event["last_heard"] == expected


def test_offline_event_carries_org_and_site_of_the_registry(store, detector, clean_redis):
    t0 = 1_700_000_000.0
    store.heartbeat("02:00:00:00:00:06", now=t0)
    clean_redis.hset(keys.sensor_meta("02:00:00:00:00:06"), mapping={"org": "acme", "site": "hq"})
    (event,) = detector.run_once(now=t0 + store.offline_after + 1)
    assert (event["org"], event["site"]) == ("acme", "hq")
