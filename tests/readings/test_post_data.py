"""POST /data: batch ingest as its contract specifies it, plus sensorhub's promises."""

from __future__ import annotations

import pytest

SAMPLE = [
    {"sensor": "abc123", "timestamp": "2021-11-08T22:38:09+01:00", "value": 21.5},
    {"sensor": "abc123", "timestamp": "2021-11-09T21:38:09+01:00", "value": 22.5},
    {"sensor": "xyz789", "timestamp": "2021-11-08T21:38:09Z", "value": -3.25},
]


def stats(client, sensor):
    response = client.get(f"/statistics/{sensor}")
    assert response.status_code == 200
    return response.get_json()


def test_batch_of_many_sensors_is_counted_per_sensor(client):
    response = client.post("/data", json=SAMPLE)
    assert response.status_code == 200
    assert response.get_json() == {"accepted": 3, "duplicates": 0}
    assert stats(client, "abc123") == {"last_measurement": "2021-11-09T21:38:09+01:00", "count": 2, "avg": 22.0}
    assert stats(client, "xyz789") == {"last_measurement": "2021-11-08T21:38:09Z", "count": 1, "avg": -3.25}


def test_same_instant_in_another_offset_is_the_same_reading_and_first_value_wins(client):
    first = [{"sensor": "s", "timestamp": "2021-11-08T22:38:09+01:00", "value": 10}]
    again = [{"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 99}]
    assert client.post("/data", json=first).get_json() == {"accepted": 1, "duplicates": 0}
    assert client.post("/data", json=again).get_json() == {"accepted": 0, "duplicates": 1}
    assert stats(client, "s") == {"last_measurement": "2021-11-08T22:38:09+01:00", "count": 1, "avg": 10.0}


def test_duplicates_within_one_batch_count_once_and_first_value_wins(client):
    batch = [
        {"sensor": "s", "timestamp": "2021-11-08T21:38:09.250Z", "value": 1.0},
        {"sensor": "s", "timestamp": "2021-11-08T16:38:09.25-05:00", "value": 500.0},
        {"sensor": "s", "timestamp": "2021-11-08T21:38:09.250000+00:00", "value": 7.0},
    ]
    assert client.post("/data", json=batch).get_json() == {"accepted": 1, "duplicates": 2}
    assert stats(client, "s")["avg"] == 1.0


def test_microseconds_distinguish_readings_and_are_kept_in_last_measurement(client):
    batch = [
        {"sensor": "s", "timestamp": "2021-11-08T21:38:09.000001Z", "value": 1},
        {"sensor": "s", "timestamp": "2021-11-08T21:38:09.000002Z", "value": 2},
        {"sensor": "s", "timestamp": "2021-11-08T22:38:09.123456+01:00", "value": 3},
    ]
    assert client.post("/data", json=batch).get_json() == {"accepted": 3, "duplicates": 0}
    assert stats(client, "s") == {"last_measurement": "2021-11-08T22:38:09.123456+01:00", "count": 3, "avg": 2.0}


def test_late_reading_counts_but_does_not_move_last_measurement_back(client):
    client.post("/data", json=[{"sensor": "s", "timestamp": "2021-11-09T12:00:00Z", "value": 20}])
    late = [{"sensor": "s", "timestamp": "2021-11-08T13:00:00+01:00", "value": 10}]
    assert client.post("/data", json=late).get_json() == {"accepted": 1, "duplicates": 0}
    assert stats(client, "s") == {"last_measurement": "2021-11-09T12:00:00Z", "count": 2, "avg": 15.0}


def test_last_measurement_follows_the_latest_instant_not_the_latest_offset_text(client):
    batch = [
        {"sensor": "s", "timestamp": "2021-11-09T01:00:00+05:00", "value": 1},  # 2021-11-08T20:00Z
        {"sensor": "s", "timestamp": "2021-11-08T21:00:00Z", "value": 2},
    ]
    client.post("/data", json=batch)
    assert stats(client, "s")["last_measurement"] == "2021-11-08T21:00:00Z"


def test_integer_and_negative_values_are_numbers(client):
    batch = [
        {"sensor": "s", "timestamp": "2021-11-08T21:00:00Z", "value": 3},
        {"sensor": "s", "timestamp": "2021-11-08T21:01:00Z", "value": -1.5},
        {"sensor": "s", "timestamp": "2021-11-08T21:02:00Z", "value": 0},
    ]
    assert client.post("/data", json=batch).status_code == 200
    assert stats(client, "s")["avg"] == pytest.approx(0.5)


def test_empty_batch_is_accepted_and_changes_nothing(client, redis_client):
    assert client.post("/data", json=[]).get_json() == {"accepted": 0, "duplicates": 0}
    assert redis_client.dbsize() == 0


def test_old_timestamps_are_valid_readings(client):
    batch = [{"sensor": "s", "timestamp": "1999-12-31T23:59:59Z", "value": 1}]
    # Counted in the statistics; older than any history tier keeps, so said to be expired.
    assert client.post("/data", json=batch).get_json() == {"accepted": 1, "duplicates": 0, "expired": 1}


def test_a_large_batch_spanning_many_script_calls_is_exact(client):
    batch = [
        {"sensor": f"sensor-{i % 700}", "timestamp": f"2021-11-08T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", "value": i % 7}
        for i in range(10_000)
    ]
    batch += batch[:50]  # re-sent tail: duplicates across call boundaries
    response = client.post("/data", json=batch[:10_000])
    assert response.get_json() == {"accepted": 10_000, "duplicates": 0}
    assert client.post("/data", json=batch[-50:]).get_json() == {"accepted": 0, "duplicates": 50}
    expected = [i % 7 for i in range(10_000) if i % 700 == 3]
    result = stats(client, "sensor-3")
    assert result["count"] == len(expected)
    assert result["avg"] == pytest.approx(sum(expected) / len(expected))


def test_reading_marks_the_sensor_as_heard(client, redis_client):
    client.post("/data", json=SAMPLE)
    assert {m.decode() for m in redis_client.zrange("sensors:seen", 0, -1)} == {"abc123", "xyz789"}


def test_a_lowercase_t_or_z_is_the_same_instant_as_uppercase(client):
    """RFC 3339 (section 5.6) allows both cases; the answer writes them uppercase."""
    first = [{"sensor": "s", "timestamp": "2021-11-08t21:38:09.5z", "value": 10}]
    again = [{"sensor": "s", "timestamp": "2021-11-08T21:38:09.500Z", "value": 99}]
    assert client.post("/data", json=first).get_json() == {"accepted": 1, "duplicates": 0}
    assert client.post("/data", json=again).get_json() == {"accepted": 0, "duplicates": 1}
    assert stats(client, "s") == {"last_measurement": "2021-11-08T21:38:09.500000Z", "count": 1, "avg": 10.0}
