"""A real ``python -m service.worker`` and Redis coming and going: the
worker waits for Redis, logs each change once, and says so on its own port
(WORKER_PORT: /livez, /readyz, /metrics)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from service import keys
from service.embedded_redis import EmbeddedRedis, free_port
from tests.servers import wait_for
from tests.worker.test_worker_processes import ROOT, stop

pytestmark = pytest.mark.slow


class RunningWorker:
    def __init__(self, redis_url: str, cluster: bool, log_path, **extra_env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if cluster else "0",
            "WORKER_PORT": str(self.port), "OFFLINE_CHECK_INTERVAL": "0.2", "REDIS_CONNECT_TIMEOUT": "0.2",
            "REDIS_TIMEOUT": "0.5", "LOG_LEVEL": "INFO", "LOG_REQUESTS": "0", "SENSORHUB_VERSION": "9.8.7-test",
            **extra_env,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "service.worker"], cwd=ROOT, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)

    def status(self, path: str) -> int | None:
        try:
            return requests.get(self.base + path, timeout=2).status_code
        except requests.ConnectionError:
            return None

    def metric(self, name: str) -> float | None:
        for line in requests.get(self.base + "/metrics", timeout=2).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def logged(self, message: str) -> int:
        return self.log_path.read_text().count(f'"msg":"{message}"')


@pytest.fixture
def absent_redis(tmp_path):
    """A Redis on a port of its own, not started yet."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port(), unix_socket=False, appendonly=False)
    yield server
    server.stop()


@pytest.fixture
def worker_of(tmp_path):
    started = []

    def start(url: str, cluster: bool = False) -> RunningWorker:
        worker = RunningWorker(url, cluster, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        stop(worker.process)


def test_a_worker_started_before_redis_comes_up_when_redis_appears(absent_redis, worker_of):
    worker = worker_of(f"redis://127.0.0.1:{absent_redis.port}/0")
    wait_for(lambda: worker.status("/livez") == 204, 20, "the worker's port")
    assert worker.status("/readyz") == 503
    wait_for(lambda: worker.logged("redis not reachable yet; retrying") == 1, 10, "the worker to say it waits")
    assert worker.metric("sensorhub_worker_redis_connected") == 0
    absent_redis.start()
    wait_for(lambda: worker.status("/readyz") == 204, 20, "the worker to be ready")
    assert worker.process.poll() is None
    wait_for(lambda: worker.logged("redis connected") == 1, 5, "the worker to log it")  # INFO lines are batched
    assert worker.logged("redis not reachable yet; retrying") == 1  # once, however many retries
    assert worker.metric("sensorhub_worker_redis_connected") == 1


def test_a_worker_recovers_when_redis_restarts_under_it(absent_redis, worker_of):
    absent_redis.start()
    worker = worker_of(absent_redis.url)
    wait_for(lambda: worker.status("/readyz") == 204, 20, "the worker to be ready")
    absent_redis.stop()
    wait_for(lambda: worker.status("/readyz") == 503, 10, "the worker to notice")
    assert worker.status("/livez") == 204  # an outage is no reason to restart it
    absent_redis.start()
    wait_for(lambda: worker.status("/readyz") == 204, 20, "the worker to recover")
    assert worker.process.poll() is None
    wait_for(lambda: worker.logged("redis reconnected") == 1, 5, "the worker to log it")
    assert worker.logged("redis lost") == 1
    assert worker.metric("sensorhub_worker_redis_reconnects_total") == 1


def test_the_worker_port_reports_passes_and_sensors(redis_url, redis_cluster_mode, clean_redis, worker_of):
    clean_redis.zadd("sensors:seen", {"quiet": 1.0, "chatty": 2.0})
    worker = worker_of(redis_url, redis_cluster_mode)
    wait_for(lambda: worker.status("/readyz") == 204, 20, "the worker to be ready")
    assert worker.metric("sensorhub_worker_late") == 0
    assert worker.metric("sensorhub_worker_last_pass_timestamp_seconds") > 0
    assert worker.metric('sensorhub_build_info{version="9.8.7-test"}') == 1
    assert worker.metric('sensorhub_sensors{status="offline"}') + worker.metric('sensorhub_sensors{status="online"}') == 2
    assert worker.status("/elsewhere") == 404
    stop(worker.process)
    assert worker.process.returncode == 0


def test_a_worker_facing_a_full_redis_stays_up_says_so_and_carries_on_once_there_is_room(tmp_path, worker_of):
    import redis

    from service.embedded_redis import memory_limit_bytes

    with EmbeddedRedis(tmp_path / "full", port=free_port(), unix_socket=False, appendonly=False,
                       maxmemory=memory_limit_bytes("3mb")) as server:
        filler = redis.Redis.from_url(server.url)
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            for number in range(1000):
                filler.set(f"filler:{number}", b"x" * 100_000)
        worker = worker_of(server.url)
        wait_for(lambda: worker.status("/livez") == 204, 20, "the worker's port")
        wait_for(lambda: worker.metric('sensorhub_redis_errors_total{kind="OutOfMemoryError"}'), 20,
                 "the refusal to be counted")
        # Log lines are written a moment after the metric moves.
        wait_for(lambda: "OutOfMemoryError" in worker.log_path.read_text(), 10, "the refusal to be logged")
        assert worker.process.poll() is None
        filler.flushall()
        # Its writes go through again: the detection passes are recorded.
        wait_for(lambda: filler.exists(keys.WORKER_PASSES), 20, "the worker to record a pass")
        assert worker.status("/readyz") == 204
        filler.close()
