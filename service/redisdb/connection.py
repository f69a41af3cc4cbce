"""Connection to the system of record, and the errors that mean it is unavailable.

One client per worker process (redis-py clients are thread-safe and pool
their connections). Timeouts are short and retries few so that an
unreachable Redis turns into a fast 503 rather than a hung request.
"""

from __future__ import annotations

import hiredis
import redis
from redis.backoff import ConstantBackoff
from redis.cluster import RedisCluster
from redis.connection import HiredisRespSerializer
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


class RedisRefusesCredentials(RuntimeError):
    """Redis answers but refuses sensorhub's credentials: the password in
    REDIS_URL is wrong or missing. A configuration error that waiting will
    not mend, so the start stops on it."""


def refuses_credentials(error: Exception) -> bool:
    """A wrong or missing password (WRONGPASS, NOAUTH, AUTH without a requirepass)."""
    return isinstance(error, redis.exceptions.AuthenticationError) or (
        isinstance(error, redis.exceptions.ResponseError) and str(error).startswith(("NOAUTH", "WRONGPASS"))
    )


def check_at_start(settings: Settings) -> str | None:
    """PING REDIS_URL once. Raises RedisRefusesCredentials when Redis refuses
    the password; returns why Redis cannot be reached (the service starts
    anyway and answers 503 until it can: in Kubernetes the pods may start
    before Redis), None when it answers. Messages name the server, never the
    password."""
    server = settings.redis_server
    try:
        client = connect(settings)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - sorted below; nothing here may end in a traceback
        if refuses_credentials(exc) or refuses_credentials(exc.__cause__ or exc.__context__ or exc):
            raise RedisRefusesCredentials(
                f"Redis at {server} refuses sensorhub's credentials ({exc}): "
                "check the password in REDIS_URL (redis://:<password>@host:port/0)"
            ) from None
        return f"Redis at {server} is not reachable yet ({exc.__class__.__name__}: {exc})"
    return None


class LeanPacker(HiredisRespSerializer):
    """redis-py's hiredis packer without its pass over every argument.

    That pass turns bytearray and memoryview arguments into bytes, which
    sensorhub never sends; on POST /data (about 3,400 arguments in an ingest
    call of 500 readings) skipping it takes the packing to 0.64× its time
    (bench/command_packing.py, docs/performance.md): hiredis packs the
    command as it is, and anything it refuses (a TypeError) goes the usual
    way, so the bytes on the wire are the same (tests/test_redisdb.py).
    """

    def pack(self, *args):
        first = args[0]
        if type(first) is str and " " not in first:  # redis-py splits "SCRIPT LOAD" and the like
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        return super().pack(*args)


LEAN_PACKER = LeanPacker()


class LeanConnection(redis.Connection):
    """A TCP connection packing with LeanPacker (Redis Cluster's nodes)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("command_packer", LEAN_PACKER)
        super().__init__(*args, **kwargs)


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
    # A blocking pool: a request finding all REDIS_MAX_CONNECTIONS in use
    # waits up to REDIS_TIMEOUT for one (then 503) instead of failing at
    # once, so a worker may serve more connections than it has to Redis.
    pooling = dict(max_connections=settings.redis_max_connections, timeout=settings.redis_timeout)
    if settings.redis_cluster:
        cluster = InstrumentedRedisCluster if timed else RedisCluster
        # With rediss:// redis-py puts its SSL connection in, packing as usual.
        return cluster.from_url(settings.redis_url, connection_pool_class=redis.BlockingConnectionPool,
                                connection_class=LeanConnection, **pooling, **common)
    single = InstrumentedRedis if timed else redis.Redis
    # Every connection the pool makes (TCP, TLS or unix socket) packs with LeanPacker.
    pool = redis.BlockingConnectionPool.from_url(settings.redis_url, command_packer=LEAN_PACKER, **pooling, **common)
    return single.from_pool(pool)


def refuse_start_on_refused_credentials(settings: Settings, log) -> bool:
    """For the processes other than gunicorn (worker, MQTT bridge): True,
    after one critical line naming the server, when Redis refuses the
    password; an unreachable Redis is only a warning (they retry)."""
    try:
        problem = check_at_start(settings)
    except RedisRefusesCredentials as exc:
        log.critical(f"cannot start: {exc}", extra={"fields": {"redis": settings.redis_server}})
        return True
    if problem:
        log.warning(problem, extra={"fields": {"redis": settings.redis_server}})
    return False
