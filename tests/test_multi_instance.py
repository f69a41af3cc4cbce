"""Two sensorhub instances behind a load balancer give the same exact answers."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.servers import GunicornServer

pytestmark = pytest.mark.slow


@pytest.fixture
def two_instances(redis_url, redis_cluster_mode, clean_redis, tmp_path):
    env = {"REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0", "LOG_REQUESTS": "0"}
    servers = [GunicornServer(env, workers=2, log_path=tmp_path / f"gunicorn-{i}.log").start() for i in range(2)]
    yield servers
    for server in servers:
        assert server.stop() == 0


def reading(sensor, minute, value):
    return {"sensor": sensor, "timestamp": f"2021-11-08T10:{minute:02d}:00+01:00", "value": value}


def test_alternating_posts_and_concurrent_duplicate_batches_give_identical_exact_statistics(two_instances):
    a, b = two_instances
    with requests.Session() as session:
        for minute in range(20):
            target = a if minute % 2 else b
            response = session.post(f"{target.url}/data", json=[reading("alt", minute, minute)], timeout=5)
            assert response.json() == {"accepted": 1, "duplicates": 0}

    # The same batch, posted to both instances at once from several threads.
    batch = [reading(f"race-{i % 10}", i // 10, float(i)) for i in range(600)]
    results: list[dict] = []
    lock = threading.Lock()

    def post(url):
        response = requests.post(f"{url}/data", json=batch, timeout=10)
        assert response.status_code == 200
        with lock:
            results.append(response.json())

    threads = [threading.Thread(target=post, args=(server.url,)) for server in (a, b) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == 8
    assert sum(r["accepted"] for r in results) == 600, "each reading accepted exactly once across instances"
    assert all(r["accepted"] + r["duplicates"] == 600 for r in results)

    for sensor, expected_count, expected_avg in [("alt", 20, 9.5)] + [
        (f"race-{k}", 60, sum(float(i) for i in range(600) if i % 10 == k) / 60) for k in range(10)
    ]:
        answers = [requests.get(f"{s.url}/statistics/{sensor}", timeout=5).json() for s in (a, b)]
        assert answers[0] == answers[1]
        assert answers[0]["count"] == expected_count
        assert answers[0]["avg"] == pytest.approx(expected_avg)


def test_metrics_are_summed_over_workers(two_instances):
    a, _ = two_instances
    with requests.Session() as session:
        for minute in range(10):
            session.post(f"{a.url}/data", json=[reading("m", minute, 1), reading("m", minute, 1)], timeout=5)
    text = requests.get(f"{a.url}/metrics", timeout=5).text
    assert 'sensorhub_readings_total{outcome="accepted"} 10.0' in text
    assert 'sensorhub_readings_total{outcome="duplicate"} 10.0' in text
    assert "flask_http_request_duration_seconds" in text
