"""What an MQTT message says, before any broker: the batch ``POST /data``
would take, checked by its batch checker."""

from __future__ import annotations

import orjson

from service.mqtt.messages import batch_of
from service.readings.validation import parse_batch

BUCKET_US = 3600 * 1_000_000


def readings_of(topic: str, document) -> dict:
    batch = batch_of(topic, orjson.dumps(document), max_bytes=10_000)
    return parse_batch(batch, max_batch=100, bucket_us=BUCKET_US)[0]


def test_a_lone_reading_on_the_data_topic_is_a_batch_of_one():
    groups = readings_of("sensorhub/data", {"sensor": "a", "timestamp": "2026-11-30T12:00:00Z", "value": 1})
    assert list(groups) == ["a"]


def test_an_epoch_number_on_a_topic_counts_seconds_and_is_the_instant_its_iso_text_names():
    by_number = readings_of("sensorhub/t-1", {"timestamp": 1796040000.25, "value": 1})
    by_text = readings_of("sensorhub/t-1", {"timestamp": "2026-11-30T13:00:00.250+01:00", "value": 1})
    assert by_number["t-1"][0] == by_text["t-1"][0] == 1796040000_250_000
