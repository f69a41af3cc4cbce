"""Batch ingest over many sensors: on Redis Cluster their keys fall in many
slots on every node; the suite runs these against a single Redis and, with
``make test-cluster``, against a cluster."""

from __future__ import annotations

import random

from redis.crc import key_slot

from service import keys
from service.stores import stores


def _batch(sensors: int, readings_each: int, start_minute: int = 0) -> list[dict]:
    return [
        {
            "sensor": f"s-{n}",
            "timestamp": f"2024-03-01T{(start_minute + i) // 60 % 24:02d}:{(start_minute + i) % 60:02d}:00Z",
            "value": n + i,
        }
        for n in range(sensors)
        for i in range(readings_each)
    ]


def test_batch_over_many_slots_counts_every_sensor_exactly(client):
    batch = _batch(sensors=500, readings_each=4)
    random.Random(8).shuffle(batch)
    assert len({key_slot(keys.sensor(item["sensor"]).encode()) for item in batch}) > 100

    response = client.post("/data", json=batch)

    assert response.status_code == 200, response.json
    assert response.json == {"accepted": 2000, "duplicates": 0}
    for n in (0, 1, 250, 499):
        stats = client.get(f"/statistics/s-{n}").json
        assert stats == {"last_measurement": "2024-03-01T00:03:00Z", "count": 4, "avg": n + 1.5}


def test_resent_batch_over_many_slots_is_all_duplicates(client):
    batch = _batch(sensors=300, readings_each=3)
    assert client.post("/data", json=batch).json == {"accepted": 900, "duplicates": 0}

    again = client.post("/data", json=batch)

    assert again.json == {"accepted": 0, "duplicates": 900}
    assert client.get("/statistics/s-7").json["count"] == 3


def test_every_sensor_of_a_batch_over_many_slots_is_marked_seen(client, redis_client):
    client.post("/data", json=_batch(sensors=200, readings_each=1))

    seen = {member.decode() for member in redis_client.zrange(keys.SENSORS_SEEN, 0, -1)}
    assert seen == {f"s-{n}" for n in range(200)}


def test_ingest_of_no_readings_writes_nothing(app, clean_redis):
    assert stores(app).readings.ingest({}) == 0
    assert clean_redis.dbsize() == 0
