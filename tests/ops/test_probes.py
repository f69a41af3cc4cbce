"""/healthz and /livez, including Redis going away and coming back."""

from __future__ import annotations

import time

import pytest

from service import create_app
from service.embedded_redis import EmbeddedRedis, free_port
from service.settings import Settings


def test_healthz_is_204_without_body_when_ready(client):
    response = client.get("/healthz")
    assert response.status_code == 204
    assert response.data == b""


def test_livez_is_204(client):
    assert client.get("/livez").status_code == 204


@pytest.fixture
def outage(tmp_path):
    """An app whose Redis is down at first, and a way to bring it up."""
    port = free_port()
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", redis_connect_timeout=0.2, redis_timeout=0.5, log_requests=False)
    app = create_app(settings)
    server = EmbeddedRedis(tmp_path, port=port, appendonly=False)
    yield app.test_client(), server
    server.stop()


def test_redis_down_means_503_json_fast_and_recovery_by_itself(outage):
    client, server = outage
    started = time.monotonic()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["code"] == 503 and "Redis" in health.get_json()["message"]
    post = client.post("/data", json=[{"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 1}])
    assert post.status_code == 503
    assert post.get_json()["status"] == "Service Unavailable"
    assert post.headers["Retry-After"] == "1"
    assert client.get("/statistics/s").status_code == 503
    assert time.monotonic() - started < 5, "an unreachable Redis must fail fast"

    server.start()
    assert client.get("/healthz").status_code == 204
    post = client.post("/data", json=[{"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 1}])
    assert post.get_json() == {"accepted": 1, "duplicates": 0}
    assert client.get("/statistics/s").get_json()["count"] == 1


def test_redis_restart_between_requests_is_absorbed(outage):
    client, server = outage
    server.start()
    assert client.get("/healthz").status_code == 204
    server.stop()
    server.start()  # fresh process: scripts and pooled connections are gone
    post = client.post("/data", json=[{"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 1}])
    assert post.status_code == 200
