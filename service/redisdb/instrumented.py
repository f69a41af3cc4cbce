"""Redis clients that time every round trip and count its errors
(sensorhub_redis_command_seconds, sensorhub_redis_errors_total).

A command alone is one observation labelled with its name (a script call
alone is EVALSHA); a pipeline, however many commands and script calls it
carries, is one observation labelled PIPELINE: what a request waits for.
Its cost on POST /data is measured in docs/performance.md
(REDIS_COMMAND_METRICS=0 turns it off).
"""

from __future__ import annotations

from time import perf_counter

import redis
from redis.cluster import RedisCluster

from ..metrics import REDIS_COMMAND_SECONDS, REDIS_ERRORS

PIPELINE = "PIPELINE"


def _command_name(args: tuple) -> str:
    name = args[0] if args else "?"
    return (name.decode() if isinstance(name, bytes) else str(name)).upper()


def _timed_execute(execute):
    """``execute`` of a pipeline, timed as one PIPELINE round trip."""

    def timed(*args, **kwargs):
        start = perf_counter()
        try:
            return execute(*args, **kwargs)
        except redis.exceptions.RedisError as exc:
            REDIS_ERRORS.labels(type(exc).__name__).inc()
            raise
        finally:
            REDIS_COMMAND_SECONDS.labels(PIPELINE).observe(perf_counter() - start)

    return timed


class _Instrumented:
    def execute_command(self, *args, **options):
        start = perf_counter()
        try:
            return super().execute_command(*args, **options)
        except redis.exceptions.RedisError as exc:
            REDIS_ERRORS.labels(type(exc).__name__).inc()
            raise
        finally:
            REDIS_COMMAND_SECONDS.labels(_command_name(args)).observe(perf_counter() - start)

    def pipeline(self, *args, **kwargs):
        pipe = super().pipeline(*args, **kwargs)
        pipe.execute = _timed_execute(pipe.execute)
        return pipe


class InstrumentedRedis(_Instrumented, redis.Redis):
    """redis.Redis, every round trip timed."""


class InstrumentedRedisCluster(_Instrumented, RedisCluster):
    """RedisCluster, every round trip timed."""
