"""Connection to the system of record, and the errors that mean it is unavailable.

One client per worker process (redis-py clients are thread-safe and pool
their connections). Timeouts are short and retries few so that an
unreachable Redis turns into a fast 503 rather than a hung request.
"""

from __future__ import annotations

import redis
from redis.backoff import ConstantBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from ..settings import Settings
from .instrumented import InstrumentedRedis, InstrumentedRedisCluster


class ReplicasNotAcknowledged(redis.exceptions.RedisError):
    """Writes reached a Redis primary but fewer replicas than
    REDIS_WAIT_REPLICAS confirmed them in time: a failover could lose them,
    so they are not acknowledged (a retry by the client is harmless)."""


# Errors that mean "Redis is not answering right now" (answered 503).
UNAVAILABLE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.SlotNotCoveredError,
    ReplicasNotAcknowledged,
)


def connect(settings: Settings) -> redis.Redis | RedisCluster:
    if not settings.redis_url:
        raise RuntimeError(
            "REDIS_URL is not set: start sensorhub with `make run` (embedded Redis) "
            "or point REDIS_URL at a Redis server"
        )
    common = dict(
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_connect_timeout,
        # One quick retry absorbs a pooled connection that died with a Redis
        # restart; more would only delay the 503 a client should see.
        retry=Retry(ConstantBackoff(0.05), 1),
        health_check_interval=30,
    )
    timed = settings.redis_command_metrics
    if settings.redis_cluster:
        cluster = InstrumentedRedisCluster if timed else RedisCluster
        return cluster.from_url(settings.redis_url, max_connections=settings.redis_max_connections, **common)
    single = InstrumentedRedis if timed else redis.Redis
    return single.from_url(settings.redis_url, max_connections=settings.redis_max_connections, **common)
