"""GET and DELETE /statistics/<sensor>."""

from __future__ import annotations

from tests.readings.test_post_data import SAMPLE, stats

NEVER_SEEN = {"last_measurement": None, "count": 0, "avg": 0.0}


def test_unknown_sensor_has_empty_statistics(client):
    assert stats(client, "never-seen") == NEVER_SEEN


def test_delete_answers_204_without_body_and_clears(client):
    client.post("/data", json=SAMPLE)
    response = client.delete("/statistics/abc123")
    assert response.status_code == 204
    assert response.data == b""
    assert stats(client, "abc123") == NEVER_SEEN
    assert stats(client, "xyz789")["count"] == 1, "other sensors are untouched"


def test_reading_posted_again_after_clear_counts_again(client):
    client.post("/data", json=SAMPLE)
    client.delete("/statistics/abc123")
    assert client.post("/data", json=SAMPLE).get_json() == {"accepted": 2, "duplicates": 1}
    assert stats(client, "abc123") == {"last_measurement": "2021-11-09T21:38:09+01:00", "count": 2, "avg": 22.0}


def test_delete_of_unknown_sensor_is_204(client):
    assert client.delete("/statistics/nobody").status_code == 204


def test_delete_is_constant_work_whatever_the_history(client, redis_client):
    batch = [{"sensor": "s", "timestamp": f"2021-11-{1 + d:02d}T{h:02d}:00:00Z", "value": 1} for d in range(20) for h in range(24)]
    client.post("/data", json=batch)
    buckets_before = len(list(redis_client.scan_iter(match="sensor:{s}:r:*", count=1000)))
    assert buckets_before == 480
    client.delete("/statistics/s")
    # The clear did not walk the buckets: they remain, orphaned, until their TTL.
    assert len(list(redis_client.scan_iter(match="sensor:{s}:r:*", count=1000))) == buckets_before
    assert all(0 < redis_client.ttl(k) <= 48 * 3600 for k in redis_client.scan_iter(match="sensor:{s}:r:*", count=1000))


def test_invalid_sensor_id_in_url_is_400(client):
    for bad in ["a{b}", "a*b", "x" * 129, "%7Bx%7D"]:
        response = client.get(f"/statistics/{bad}")
        assert response.status_code == 400, bad
        assert response.get_json()["code"] == 400
        assert client.delete(f"/statistics/{bad}").status_code == 400


def test_answers_match_their_documented_schemas(client):
    from service.readings.schemas import IngestResultSchema, StatisticsSchema

    posted = client.post("/data", json=SAMPLE).get_json()
    assert IngestResultSchema().load(posted) == posted
    for sensor in ("abc123", "never-seen"):
        answer = stats(client, sensor)
        assert StatisticsSchema().load(answer) == answer
