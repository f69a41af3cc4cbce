"""redis-server SIGKILLed mid-ingest and restarted from its append-only file.

With ``appendfsync always`` Redis answers a write only after it is on disk,
so whatever sensorhub acknowledged survives the kill, and the client's
retries of unacknowledged batches never count a reading twice.
"""

from __future__ import annotations

import threading
import time

import pytest

from service import create_app
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores

pytestmark = pytest.mark.slow

SENSORS = 25
BATCHES = 80
KILLS = 3
DEADLINE_SECONDS = 60


def _batch(number: int) -> list[dict]:
    return [
        {"sensor": f"k-{n}", "timestamp": f"2024-06-01T{number // 60:02d}:{number % 60:02d}:00Z", "value": number % 7}
        for n in range(SENSORS)
    ]


def _durable_redis(data_dir, port=None) -> EmbeddedRedis:
    return EmbeddedRedis(data_dir, port=port, unix_socket=False, appendonly=True, appendfsync="always")


def test_sigkilled_redis_restarted_from_its_aof_keeps_every_acknowledged_reading_once(tmp_path):
    server = _durable_redis(tmp_path)
    server.start()
    app = create_app(
        Settings(redis_url=server.url, redis_timeout=0.5, redis_connect_timeout=0.2, log_requests=False, log_level="ERROR")
    )
    client = app.test_client()
    ingest_running = threading.Event()
    done = threading.Event()
    kills_over = threading.Event()
    servers = [server]
    killer_errors: list[BaseException] = []

    def kill_and_restart():
        try:
            kill_and_restart_each_time()
        except BaseException as exc:
            killer_errors.append(exc)
            raise

    def kill_and_restart_each_time():
        ingest_running.wait(10)
        for _ in range(KILLS):
            if done.wait(0.15):
                break
            servers[-1].process.kill()
            servers[-1].process.wait()
            servers[-1].process = None
            time.sleep(0.2)
            restarted = _durable_redis(tmp_path, port=server.port)
            restarted.start()
            servers.append(restarted)
        kills_over.set()
        # Linux ends a redis-server (PR_SET_PDEATHSIG) when the *thread* that
        # started it exits: this thread lives until the test is over.
        done.wait(DEADLINE_SECONDS)

    killer = threading.Thread(target=kill_and_restart)
    killer.start()
    statuses: list[int] = []
    response = None
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        sent = 0
        # Batches keep coming until the kills are over, so each one lands mid-ingest.
        while sent < BATCHES or not kills_over.is_set():
            number = sent
            sent += 1
            while True:
                assert not killer_errors
                assert time.monotonic() < deadline, (statuses[-5:], response.json)
                response = client.post("/data", json=_batch(number))
                statuses.append(response.status_code)
                ingest_running.set()
                assert response.status_code in (200, 503), response.json
                if response.status_code == 200:
                    break
                time.sleep(0.05)
        assert len(servers) == KILLS + 1
        assert 503 in statuses

        expected_avg = sum(n % 7 for n in range(sent)) / sent
        for n in range(SENSORS):
            stats = client.get(f"/statistics/k-{n}").json
            assert stats.get("count") == sent, (n, stats)
            assert stats["avg"] == pytest.approx(expected_avg)
            assert stats["last_measurement"] == f"2024-06-01T{(sent - 1) // 60:02d}:{(sent - 1) % 60:02d}:00Z"
    finally:
        stores(app).client.close()
        servers[-1].stop()
        done.set()
        killer.join()
