"""Two sensorhub instances behind a load balancer give the same exact answers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

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
    assert 'sensorhub_readings_total{outcome="accepted",route="readings.post_data"} 10.0' in text
    assert 'sensorhub_readings_total{outcome="duplicate",route="readings.post_data"} 10.0' in text
    assert "flask_http_request_duration_seconds" in text


def test_concurrent_too_hot_answers_under_gevent_workers_each_answer_their_own_site(two_instances):
    """Under gevent workers concurrent answers share Redis round trips; each
    request still gets its own site's answer, and a threshold change shows
    in the next one."""
    a, b = two_instances
    now = int(time.time())
    readings = [
        {"siteId": f"hot-{n}", "orgId": "acme", "temperature": 20.0 + n / 10, "timestamp": now - 60}
        for n in range(40)
    ]
    assert requests.post(f"{a.url}/v1/temperatures", json=readings, timeout=10).status_code == 200

    def answers(round_number: int) -> list[dict]:
        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(
                lambda n: requests.get(
                    f"{(a, b)[n % 2].url}/v1/admin/toohotornot", params={"siteId": f"hot-{n % 40}"}, timeout=10
                ).json(),
                range(round_number, round_number + 200),
            ))

    for n, answer in enumerate(answers(0)):
        site = n % 40
        assert (answer["siteId"], answer["maxTemperature"], answer["readings"]) == (f"hot-{site}", 20.0 + site / 10, 1)
        assert answer["tooHot"] is False

    patched = requests.patch(f"{b.url}/v1/sites/hot-7", json={"threshold": 20.5}, timeout=5)
    assert patched.status_code == 200
    hot = [answer for answer in answers(1) if answer["siteId"] == "hot-7"]
    assert hot and all(answer["tooHot"] and answer["threshold"] == 20.5 for answer in hot)
