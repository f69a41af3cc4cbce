"""Redis unreachable or stalled: requests fail fast with 503, /healthz
says 503, and the same process serves again once Redis is back."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from service import create_app
from service.embedded_redis import EmbeddedRedis, free_port
from service.settings import Settings
from service.stores import stores

pytestmark = pytest.mark.slow

READING = [{"sensor": "u-1", "timestamp": "2024-08-01T00:00:00Z", "value": 1.5}]
# REDIS_CONNECT_TIMEOUT / REDIS_TIMEOUT in these tests (seconds).
CONNECT_TIMEOUT = 0.2
COMMAND_TIMEOUT = 0.3
# A request may try twice (one retry) and then answer; generous for a busy machine.
FAIL_FAST_BOUND = 4 * (CONNECT_TIMEOUT + COMMAND_TIMEOUT) + 1.0
# How long Redis stalls (CLIENT PAUSE holds every client, even the one that
# paused it, so the pause simply runs out).
PAUSE_SECONDS = 3.0


def _app(url: str):
    settings = Settings(
        redis_url=url,
        redis_connect_timeout=CONNECT_TIMEOUT,
        redis_timeout=COMMAND_TIMEOUT,
        log_requests=False,
        log_level="CRITICAL",
    )
    return create_app(settings)


def _wait_healthy(client) -> None:
    deadline = time.monotonic() + PAUSE_SECONDS + FAIL_FAST_BOUND
    while client.get("/healthz").status_code != 204:
        assert time.monotonic() < deadline, "the pool did not recover"
        time.sleep(0.1)


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_unreachable_redis_answers_503_fast_and_the_pool_recovers_when_it_starts(tmp_path):
    port = free_port()
    app = _app(f"redis://127.0.0.1:{port}/0")
    client = app.test_client()

    response, elapsed = _timed(lambda: client.post("/data", json=READING))
    assert response.status_code == 503, response.json
    assert response.headers["Retry-After"] == "1"
    assert elapsed < FAIL_FAST_BOUND
    health, elapsed = _timed(lambda: client.get("/healthz"))
    assert health.status_code == 503
    assert elapsed < FAIL_FAST_BOUND
    assert client.get("/statistics/u-1").status_code == 503
    assert client.get(f"/v1/series?sensors=u-1,u-2&start={int(time.time()) - 3600}").status_code == 503

    with EmbeddedRedis(tmp_path, port=port, unix_socket=False, appendonly=False):
        assert client.get("/healthz").status_code == 204
        assert client.post("/data", json=READING).json == {"accepted": 1, "duplicates": 0}
        assert client.get("/statistics/u-1").json["count"] == 1
    stores(app).client.close()


def test_stalled_redis_answers_503_within_the_command_timeout_and_then_serves_again(tmp_path):
    with EmbeddedRedis(tmp_path, unix_socket=False, appendonly=False) as server:
        app = _app(server.url)
        client = app.test_client()
        assert client.post("/data", json=READING).status_code == 200
        admin = redis.Redis.from_url(server.url)
        pause_ms = int(PAUSE_SECONDS * 1000)
        # CLIENT PAUSE holds every other client's commands unanswered: a Redis
        # busy with a slow command looks the same from the outside.
        admin.execute_command("CLIENT", "PAUSE", pause_ms)

        response, elapsed = _timed(lambda: client.post("/data", json=READING))
        assert response.status_code == 503, response.json
        assert elapsed < FAIL_FAST_BOUND
        health, elapsed = _timed(lambda: client.get("/healthz"))
        assert health.status_code == 503
        assert elapsed < FAIL_FAST_BOUND

        _wait_healthy(client)
        assert client.post("/data", json=READING).json == {"accepted": 0, "duplicates": 1}
        assert client.get("/statistics/u-1").json["count"] == 1
        admin.close()
        stores(app).client.close()


def test_requests_in_flight_while_redis_stalls_all_end_in_bounded_time(tmp_path):
    with EmbeddedRedis(tmp_path, unix_socket=False, appendonly=False) as server:
        app = _app(server.url)
        admin = redis.Redis.from_url(server.url)
        admin.execute_command("CLIENT", "PAUSE", int(PAUSE_SECONDS * 1000))
        statuses: list[int] = []
        durations: list[float] = []

        def one_request():
            response, elapsed = _timed(lambda: app.test_client().post("/data", json=READING))
            statuses.append(response.status_code)
            durations.append(elapsed)

        threads = [threading.Thread(target=one_request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(FAIL_FAST_BOUND * 3)
        assert statuses == [503] * 8
        assert max(durations) < FAIL_FAST_BOUND
        _wait_healthy(app.test_client())
        admin.close()
        stores(app).client.close()
