"""A gunicorn worker SIGKILLed while it handles a batch (real processes, loopback).

The client sees its connection break, retries the batch, and the
statistics come out exact: the readings the dead worker had already
written are recognised as duplicates of the retry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from service.embedded_redis import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SENSORS = 1000
MAX_KILLS = 8
DEADLINE_SECONDS = 90


def _batch(number: int) -> list[dict]:
    stamp = f"2024-07-01T{number // 60:02d}:{number % 60:02d}:00Z"
    return [{"sensor": f"w-{n}", "timestamp": stamp, "value": number} for n in range(SENSORS)]


def _wait_ready(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 204:
                return
        except requests.RequestException:  # refused, or too slow to answer yet
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not become ready")


def _worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.fixture
def gunicorn(redis_url, redis_cluster_mode, clean_redis, tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        REDIS_CLUSTER="1" if redis_cluster_mode else "0",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        LOG_REQUESTS="0",
        GUNICORN_LOG_LEVEL="warning",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, time.monotonic() + 30)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_batch_retried_after_its_worker_was_killed_yields_exact_statistics(gunicorn):
    base, master_pid = gunicorn
    broken = threading.Event()
    stop = threading.Event()
    sent = []
    unexpected = []

    def post_batches():
        session = requests.Session()
        number = 0
        while not stop.is_set() or number < 5:
            payload = _batch(number)
            while True:
                try:
                    response = session.post(f"{base}/data", json=payload, timeout=30)
                except requests.ConnectionError:
                    broken.set()
                    session = requests.Session()
                    time.sleep(0.2)
                    continue
                if response.status_code != 200:
                    unexpected.append((response.status_code, response.text))
                    return
                break
            number += 1
            sent.append(number)

    client = threading.Thread(target=post_batches)
    client.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        for _ in range(MAX_KILLS):
            time.sleep(0.3)
            for pid in _worker_pids(master_pid):
                os.kill(pid, signal.SIGKILL)
            _wait_ready(base, deadline)
            if broken.is_set():
                break
    finally:
        stop.set()
        client.join(DEADLINE_SECONDS)
    assert broken.is_set(), f"no kill landed while a batch was in flight in {MAX_KILLS} tries"
    assert not client.is_alive()
    assert not unexpected

    batches = sent[-1]
    expected_avg = sum(range(batches)) / batches
    for n in (0, 1, SENSORS // 2, SENSORS - 1):
        stats = requests.get(f"{base}/statistics/w-{n}", timeout=5).json()
        assert stats["count"] == batches, (n, stats)
        assert stats["avg"] == pytest.approx(expected_avg)
