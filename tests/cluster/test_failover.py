"""A Redis Cluster master dies while batches arrive (real processes, loopback).

The test starts its own cluster, so it runs once, in ``make test``.
"""

from __future__ import annotations

import time

import pytest
import redis
from redis.cluster import RedisCluster

from service import create_app, keys
from service.embedded_cluster import EmbeddedCluster
from service.settings import Settings
from service.stores import stores

pytestmark = pytest.mark.slow

SENSORS = 40
BATCHES = 60
DEADLINE_SECONDS = 60


@pytest.fixture
def cluster(tmp_path, redis_cluster_mode):
    if redis_cluster_mode:
        pytest.skip("starts a cluster of its own; runs in `make test`")
    with EmbeddedCluster(tmp_path, node_timeout_ms=1000) as cluster:
        yield cluster


def _batch(number: int) -> list[dict]:
    # Every batch: one new reading per sensor, value = batch number.
    return [
        {"sensor": f"f-{n}", "timestamp": f"2024-05-01T{number // 60:02d}:{number % 60:02d}:00Z", "value": number}
        for n in range(SENSORS)
    ]


def _master_of(cluster: EmbeddedCluster, sensor_id: str):
    client = RedisCluster.from_url(cluster.url)
    try:
        node = client.get_node_from_key(keys.sensor(sensor_id))
        return cluster.node_for_port(node.port)
    finally:
        client.close()


def _wait_for_replicas(cluster: EmbeddedCluster) -> None:
    """Until every master's replica has processed all its master wrote.

    WAIT counts only the asking connection's own writes: the masters'
    replication offsets are compared with their replicas' instead.
    """
    for node in cluster.nodes:
        client = redis.Redis.from_url(node.url)
        try:
            replication = client.info("replication")
            if replication["role"] != "master":
                continue
            target = replication["master_repl_offset"]
            deadline = time.monotonic() + 5
            while client.info("replication").get("slave0", {}).get("offset", -1) < target:
                assert time.monotonic() < deadline, f"the replica of {node.url} never caught up"
                time.sleep(0.01)
        finally:
            client.close()


def test_batches_retried_through_a_master_failover_end_with_exact_statistics(cluster):
    app = create_app(
        Settings(
            redis_url=cluster.url,
            redis_cluster=True,
            redis_timeout=1.0,
            redis_connect_timeout=0.3,
            log_requests=False,
            log_level="ERROR",
        )
    )
    client = app.test_client()
    victim = _master_of(cluster, "f-0")
    statuses: list[int] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    for number in range(BATCHES):
        if number == BATCHES // 3:
            # Replication is asynchronous: without REDIS_WAIT_REPLICAS a batch
            # acknowledged a moment before the kill may not have reached the
            # replica (docs/architecture.md, "What a failover can lose"). This
            # test is about batches retried through the failover, so the kill
            # comes once every replica holds every acknowledged batch.
            _wait_for_replicas(cluster)
            victim.process.kill()
            victim.process.wait()
        while True:
            assert time.monotonic() < deadline, f"no recovery within {DEADLINE_SECONDS} s: {statuses[-5:]}"
            response = client.post("/data", json=_batch(number))
            statuses.append(response.status_code)
            assert response.status_code in (200, 503), response.json
            if response.status_code == 200:
                break
            assert response.headers["Retry-After"] == "1"
            time.sleep(0.2)

    assert 503 in statuses, "the dead master's slots should have been unavailable for a moment"
    expected_avg = sum(range(BATCHES)) / BATCHES
    for n in range(SENSORS):
        stats = client.get(f"/statistics/f-{n}").json
        assert stats["count"] == BATCHES, (n, stats, _master_of(cluster, f"f-{n}").url, victim.url, statuses)
        assert stats["avg"] == pytest.approx(expected_avg)
    assert client.get("/healthz").status_code == 204
    stores(app).client.close()


def _app(cluster: EmbeddedCluster, **changes):
    settings = Settings(redis_url=cluster.url, redis_cluster=True, log_requests=False, log_level="ERROR")
    return create_app(settings.replace(**changes))


def test_waiting_for_a_replica_acknowledges_once_every_written_master_replicated(cluster):
    app = _app(cluster, redis_wait_replicas=1, redis_wait_timeout_ms=1000)

    response = app.test_client().post("/data", json=_batch(1))

    assert response.status_code == 200, response.json
    assert response.json == {"accepted": SENSORS, "duplicates": 0}
    stores(app).client.close()


def test_fewer_replica_acknowledgements_than_required_answer_503_and_a_retry_is_harmless(cluster):
    # Each master has one replica: two acknowledgements never come.
    strict = _app(cluster, redis_wait_replicas=2, redis_wait_timeout_ms=50)
    response = strict.test_client().post("/data", json=_batch(1))
    assert response.status_code == 503, response.json
    assert "REDIS_WAIT_REPLICAS" in response.json["message"]

    relaxed = _app(cluster)
    retried = relaxed.test_client().post("/data", json=_batch(1))
    assert retried.status_code == 200
    assert relaxed.test_client().get("/statistics/f-3").json == {
        "last_measurement": "2024-05-01T00:01:00Z",
        "count": 1,
        "avg": 1.0,
    }
    for app in (strict, relaxed):
        stores(app).client.close()
