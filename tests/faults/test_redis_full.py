"""A Redis at its maxmemory refuses writes; sensorhub answers 503, never 500.

With ``noeviction`` nothing is ever dropped to make room: a write is refused
(inside a Lua script too), the client is told to retry later, the refusal is
counted in /metrics, and reads keep working.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service import create_app
from service.embedded_redis import EmbeddedRedis, memory_limit_bytes
from service.settings import Settings

pytestmark = pytest.mark.slow


def _batch(number: int) -> list[dict]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return [
        {"sensor": f"full-{number}-{n}", "timestamp": (start + timedelta(seconds=n)).isoformat(), "value": n}
        for n in range(200)
    ]


def test_a_full_redis_answers_503_with_a_clear_message_a_metric_and_keeps_serving_reads(tmp_path):
    with EmbeddedRedis(tmp_path, unix_socket=False, appendonly=False, maxmemory=memory_limit_bytes("3mb")) as server:
        app = create_app(Settings(redis_url=server.url, log_requests=False, log_level="CRITICAL"))
        client = app.test_client()
        statuses = []
        for number in range(200):
            response = client.post("/data", json=_batch(number))
            statuses.append(response.status_code)
            if response.status_code != 200:
                break
        assert statuses[0] == 200
        assert statuses[-1] == 503, statuses
        assert set(statuses) == {200, 503}
        body = response.get_json()
        assert "maxmemory" in body["message"] and body["code"] == 503
        assert response.headers["Retry-After"] == "30"

        assert client.get("/statistics/full-0-0").get_json()["count"] == 1
        metrics = client.get("/metrics").get_data(as_text=True)
        assert "sensorhub_redis_out_of_memory_total 1.0" in metrics


def test_the_embedded_redis_is_limited_and_never_evicts(tmp_path):
    with EmbeddedRedis(tmp_path, unix_socket=False, appendonly=False, maxmemory=memory_limit_bytes("64mb")) as server:
        import redis

        config = redis.Redis.from_url(server.url).config_get("maxmemory*")
        assert int(config["maxmemory"]) == 64 * 2**20
        assert config["maxmemory-policy"] == "noeviction"


def test_the_memory_limit_is_a_share_of_what_is_available_or_a_size():
    assert memory_limit_bytes("50%", available=8 * 2**30) == 4 * 2**30
    assert memory_limit_bytes("512mb") == 512 * 2**20
    assert memory_limit_bytes("1.5gb") == int(1.5 * 2**30)
