"""Two instances racing thermometer posts of conflicting values for the same
instants: for every site the answer, the statistics, the window and the
too-hot events say what the readings store's dedup decided."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from service import timeutil
from tests.servers import GunicornServer

from .test_one_truth import MINUTE, base_seconds, local_date_text, readings

pytestmark = pytest.mark.slow

SITES = 60
INSTANTS = 5
ROUNDS = 3


@pytest.fixture
def two_instances(redis_url, redis_cluster_mode, clean_redis, tmp_path):
    env = {"REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0", "LOG_REQUESTS": "0",
           "WORKER": "0"}
    servers = [GunicornServer(env, workers=2, log_path=tmp_path / f"gunicorn-{i}.log").start() for i in range(2)]
    yield servers
    for server in servers:
        assert server.stop() == 0


def test_racing_conflicting_posts_leave_one_truth_per_site(two_instances):
    a, b = two_instances
    start = base_seconds()
    sites = [f"race-{n}" for n in range(SITES)]
    # Each round sends every site's instants at 40 °C to one instance and
    # at 10 °C to the other at the same moment (the instances swap roles).
    barrier = threading.Barrier(2)

    def send(job):
        url, body = job
        try:
            barrier.wait(5)
        except threading.BrokenBarrierError:
            pass
        response = requests.post(f"{url}/v1/temperatures", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    for round_number in range(ROUNDS):
        first = start + round_number * INSTANTS * MINUTE
        jobs = []
        for n, site in enumerate(sites):
            hot, cool = (a, b) if (n + round_number) % 2 else (b, a)
            jobs += [(hot.url, readings(site, first, 40.0, INSTANTS)), (cool.url, readings(site, first, 10.0, INSTANTS))]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(send, jobs))
        # Each instant was accepted once, by one of the two posts.
        assert sum(result["accepted"] for result in results) == SITES * INSTANTS

    events = requests.get(f"{a.url}/v1/events", params={"type": "site.too_hot", "limit": 500}, timeout=10).json()
    published = {event["site"]: event["maxTemperature"] for event in events["events"]}
    end = timeutil.us_to_iso((start + 3600) * 1_000_000)
    disagreements = []
    for n, site in enumerate(sites):
        server = (a, b)[n % 2]
        answer = requests.get(f"{server.url}/v1/admin/toohotornot",
                              params={"siteId": site, "date": local_date_text(start), "unit": "C"}, timeout=10).json()
        statistics = requests.get(f"{server.url}/statistics/{site}", timeout=10).json()
        window = requests.get(f"{server.url}/v1/sensors/{site}/aggregate",
                              params={"window": "1h", "end": end}, timeout=10).json()
        truth = {"readings": statistics["count"], "max": window["max"], "tooHot": window["max"] > 25.0,
                 "event": window["max"] if window["max"] > 25.0 else None}
        said = {"readings": answer["readings"], "max": answer["maxTemperature"], "tooHot": answer["tooHot"],
                "event": published.get(site)}
        assert statistics["count"] == window["count"] == ROUNDS * INSTANTS
        if said != truth:
            disagreements.append((site, said, truth))
    assert disagreements == []
