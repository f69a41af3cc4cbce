"""The MQTT bridge dead-letters a message with a reading dated later than
the server's clock plus FUTURE_TOLERANCE, with the reason, like any
invalid message, and stores the other messages of its batch. The bridge's
flush runs in process here, its broker client a stand-in that records."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from service import timeutil
from service.mqtt.bridge import Bridge
from service.stores import stores

SECOND_US = 1_000_000


class RecordingClient:
    """Stands in for paho's client: keeps what is published, confirms it."""

    def __init__(self):
        self.published: list[tuple[str, dict]] = []

    def publish(self, topic, payload, qos=0):
        self.published.append((topic, orjson.loads(payload)))
        return SimpleNamespace(wait_for_publish=lambda timeout=None: None, is_published=lambda: True)

    def ack(self, mid, qos):
        pass


@pytest.fixture
def flush(app):
    def run(settings_changes=None, *messages):
        settings = stores(app).settings.replace(mqtt_url="mqtt://127.0.0.1:1", **(settings_changes or {}))
        bridge = Bridge(settings, stores(app).readings, stores(app).sensors)
        bridge.client = RecordingClient()
        batch = [(0, SimpleNamespace(topic=topic, payload=orjson.dumps(document), qos=0, mid=0))
                 for topic, document in messages]
        bridge.flush(batch)
        return bridge.client.published

    return run


def test_a_message_dated_in_2099_is_dead_lettered_with_the_reason_and_writes_nothing(flush, client):
    now = timeutil.us_to_iso(timeutil.now_us() // SECOND_US * SECOND_US)
    published = flush(None, ("sensorhub/fut", {"timestamp": "2099-12-31T00:00:00Z", "value": 99}),
                      ("sensorhub/ok", {"timestamp": now, "value": 20}))
    ((topic, letter),) = published
    assert topic == "sensorhub/dead-letter" and letter["topic"] == "sensorhub/fut"
    assert letter["error"]["code"] == 422
    (message,) = letter["error"]["errors"]["json"]["0"]["timestamp"]
    assert "73 years ahead of the server's clock" in message and "clock may be wrong" in message
    assert client.get("/statistics/fut").get_json()["count"] == 0
    assert client.get("/statistics/ok").get_json() == {"last_measurement": now, "count": 1, "avg": 20.0}


def test_a_message_just_within_the_tolerance_is_stored(flush, client):
    ahead = timeutil.us_to_iso(timeutil.now_us() + 540 * SECOND_US)
    assert flush(None, ("sensorhub/drift", {"timestamp": ahead, "value": 1})) == []
    assert client.get("/statistics/drift").get_json()["count"] == 1


def test_future_tolerance_sets_the_bridges_horizon(flush, client):
    ahead = {"timestamp": timeutil.us_to_iso(timeutil.now_us() + 1800 * SECOND_US), "value": 1}
    assert len(flush(None, ("sensorhub/h", ahead))) == 1
    assert flush({"future_tolerance": 3600}, ("sensorhub/h", ahead)) == []
    assert client.get("/statistics/h").get_json()["count"] == 1
