"""`python -m service.mqtt` between a real mosquitto and the test Redis:
what it stores is what POST /data would store, what it refuses goes to the
dead-letter topic with the reason, and a bridge killed mid-stream loses and
doubles nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.servers import wait_for

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def stamp(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def statistics(client, sensor: str) -> dict:
    answer = client.get(f"/statistics/{sensor}")
    assert answer.status_code == 200
    return answer.get_json()


def test_a_reading_on_a_sensor_topic_reaches_its_statistics(client, start_bridge, peer, topics):
    start_bridge()
    peer.publish(f"{topics['root']}/greenhouse-1", {"timestamp": stamp(0), "value": 21.5})
    stats = wait_for(lambda: statistics(client, "greenhouse-1")["count"] and statistics(client, "greenhouse-1"), 10,
                     "the reading in the statistics")
    assert stats == {"last_measurement": stamp(0), "count": 1, "avg": 21.5}


def test_an_array_on_a_sensor_topic_is_that_sensors_readings_and_repeats_are_duplicates(client, start_bridge, peer,
                                                                                         topics):
    bridge = start_bridge()
    readings = [{"timestamp": stamp(n), "value": n} for n in range(3)]
    peer.publish(f"{topics['root']}/t-2", readings)
    peer.publish(f"{topics['root']}/t-2", [{"sensor": "t-2", **readings[0], "value": 99}])
    wait_for(lambda: bridge.metric("sensorhub_mqtt_messages_total", outcome="stored") == 2, 10, "both messages")
    assert statistics(client, "t-2") == {"last_measurement": stamp(2), "count": 3, "avg": 1.0}
    assert bridge.metric("sensorhub_readings_total", outcome="duplicate", route="mqtt") == 1


def test_a_batch_on_the_data_topic_is_stored_as_post_data_stores_it(client, start_bridge, peer, topics):
    """Epoch numbers count seconds (POST /data's default precision)."""
    start_bridge()
    epoch_seconds = START.timestamp()
    batch = [
        {"sensor": "a", "timestamp": stamp(0), "value": 1},
        {"sensor": "b", "timestamp": stamp(0), "value": 20, "unit": "C"},
        {"sensor": "a", "timestamp": stamp(60), "value": 3},
        {"sensor": "a", "timestamp": epoch_seconds + 120.5, "value": 5},
        {"sensor": "b", "timestamp": epoch_seconds, "value": 99},  # b's first reading again
    ]
    peer.publish(f"{topics['root']}/data", batch)
    wait_for(lambda: statistics(client, "a")["count"] == 3, 10, "sensor a's readings")
    assert statistics(client, "a") == {"last_measurement": "2026-11-30T12:02:00.500000Z", "count": 3, "avg": 3.0}
    assert statistics(client, "b") == {"last_measurement": stamp(0), "count": 1, "avg": 20.0}


def test_a_sensor_first_heard_with_a_unit_takes_its_kind_as_through_post_data(client, start_bridge, peer, topics):
    start_bridge()
    peer.publish(f"{topics['root']}/f-mqtt", {"timestamp": stamp(0), "value": 70.7, "unit": "F"})
    wait_for(lambda: statistics(client, "f-mqtt")["count"] == 1, 10, "the reading in the statistics")
    sensor = wait_for(lambda: (found := client.get("/v1/sensors/f-mqtt").get_json())["kind"] and found, 10,
                      "the sensor's kind")
    assert (sensor["kind"], sensor["input_unit"], sensor["statistics"]["unit"]) == ("temperature", "C", "C")


def test_readings_beyond_every_query_are_counted_as_expired_as_post_data_counts_them(client, start_bridge, peer,
                                                                                     topics):
    """Older than the longest history tier (ten years): stored, in the
    statistics, never in a window, series or history."""
    bridge = start_bridge()
    peer.publish(f"{topics['root']}/old-1", [{"timestamp": "2001-01-01T00:00:00Z", "value": 1},
                                            {"timestamp": stamp(0), "value": 3}])
    peer.publish(f"{topics['root']}/old-1", {"timestamp": "2001-01-01T00:00:00Z", "value": 1})
    wait_for(lambda: bridge.metric("sensorhub_mqtt_messages_total", outcome="stored") == 2, 10, "both messages")
    assert statistics(client, "old-1")["count"] == 2
    # Among the accepted and duplicate readings, not beside them.
    assert bridge.metric("sensorhub_readings_expired_total", route="mqtt") == 2
    assert bridge.metric("sensorhub_readings_total", outcome="accepted", route="mqtt") == 2
    assert bridge.metric("sensorhub_readings_total", outcome="duplicate", route="mqtt") == 1


@pytest.mark.parametrize(
    ("level", "payload", "code", "reason"),
    [
        ("s-1", b'{"timestamp": "2026-11-30T12:00:00Z", "value": 1', 400, "not valid JSON"),
        ("s-1", {"timestamp": "2026-11-30T12:00:00Z", "value": "warm"}, 422, "readings are invalid"),
        ("s-1", b'{"timestamp": "2026-11-30T12:00:00Z", "value": 1, "value": 2}', 400, "repeats a key"),
        ("s-1", [{"timestamp": stamp(0), "value": 1}, {"timestamp": "yesterday", "value": 2}], 422, "1 of 2"),
        ("s-1", {"sensor": "s-2", "timestamp": stamp(0), "value": 1}, 422, "another sensor than their topic"),
        ("bad sensor!", {"timestamp": stamp(0), "value": 1}, 422, "is not a sensor id"),
        ("data", [{"sensor": "s-1", "timestamp": stamp(0), "value": 1}, {"sensor": "s-1", "value": 2}], 422,
         "readings are invalid"),
    ],
    ids=["not-json", "wrong-type", "repeated-key", "one-bad-of-two", "other-sensor", "invalid-sensor-topic",
         "bad-batch"],
)
def test_an_invalid_message_goes_to_the_dead_letter_topic_with_its_reason_and_writes_nothing(
    client, start_bridge, peer, topics, level, payload, code, reason,
):
    bridge = start_bridge()
    peer.subscribe(topics["dead_letter"])
    topic = f"{topics['root']}/{level}"
    peer.publish(topic, payload)
    dead_topic, letter = peer.next_message()
    assert dead_topic == topics["dead_letter"]
    assert letter["topic"] == topic
    assert letter["error"]["code"] == code and reason in letter["error"]["message"]
    sent = payload if isinstance(payload, bytes) else None
    if sent is not None:
        assert letter["payload"] == sent.decode()
    assert statistics(client, "s-1")["count"] == 0
    wait_for(lambda: bridge.metric("sensorhub_mqtt_messages_total", outcome="dead_letter") == 1, 5, "the count")
    # Acknowledged and done with: the next message is stored, the letter not sent again.
    peer.publish(f"{topics['root']}/s-1", {"timestamp": stamp(5), "value": 7})
    wait_for(lambda: statistics(client, "s-1")["count"] == 1, 10, "the next message stored")
    assert peer.received.empty()


def test_dead_letter_errors_list_the_items_at_fault_as_post_data_does(client, start_bridge, peer, topics):
    start_bridge()
    peer.subscribe(topics["dead_letter"])
    peer.publish(f"{topics['root']}/data", [{"sensor": "x", "timestamp": stamp(0), "value": 1},
                                           {"sensor": "x", "timestamp": stamp(1), "value": None}])
    _, letter = peer.next_message()
    posted = client.post("/data", json=[{"sensor": "x", "timestamp": stamp(0), "value": 1},
                                        {"sensor": "x", "timestamp": stamp(1), "value": None}])
    assert posted.status_code == letter["error"]["code"] == 422
    assert letter["error"]["errors"] == posted.get_json()["errors"]


def test_a_bridge_killed_mid_stream_loses_nothing_and_counts_nothing_twice(client, start_bridge, peer, topics):
    total = 3000
    sensor = "killed-1"
    # Small batches: many are between their write and their acknowledgement.
    env = {"MQTT_BATCH_SIZE": "50", "MQTT_FLUSH_INTERVAL": "0.01"}
    first = start_bridge(**env)

    def publish_all():
        for n in range(total):
            peer.client.publish(f"{topics['root']}/{sensor}", f'{{"timestamp": "{stamp(n)}", "value": {n}}}', qos=1)

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    try:
        wait_for(lambda: statistics(client, sensor)["count"] >= total // 5, 30, "a fifth of the readings")
        first.kill()
        killed_at = statistics(client, sensor)["count"]
        assert killed_at < total, "the stream ended before the bridge was killed"
        start_bridge(**env)
    finally:
        publisher.join(60)
    assert not publisher.is_alive()
    wait_for(lambda: statistics(client, sensor)["count"] >= total, 60, "every reading")
    assert statistics(client, sensor) == {"last_measurement": stamp(total - 1), "count": total, "avg": (total - 1) / 2}
