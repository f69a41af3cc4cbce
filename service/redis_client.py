"""Connection to the system of record, and the registry of Lua scripts.

One client per worker process (redis-py clients are thread-safe and pool
their connections). Timeouts are short and retries few so that an
unreachable Redis turns into a fast 503 rather than a hung request.
"""

from __future__ import annotations

import os
import sys
from importlib import resources

import redis
from flask import Flask, current_app
from hiredis import pack_command
from redis.backoff import ConstantBackoff
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError
from redis.retry import Retry

from .settings import Settings


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


def lua_source(package: str, filename: str) -> str:
    """Text of a ``.lua`` file shipped next to the module that uses it."""
    return resources.files(package).joinpath(filename).read_text(encoding="utf-8")


class ScriptBatch:
    """One round trip of commands and script calls whose scripts survive NOSCRIPT.

    Queue plain commands on ``batch.pipe`` and scripts with ``batch.script``;
    ``execute`` answers the results in order. A script call that meets
    NOSCRIPT (a node restarted, failed over or flushed its cache) runs again
    with EVAL, which also caches the script; any other error is raised.

    ``trailer(pipe) -> n`` queues commands that must follow every script
    call, such as WAIT for replicas: they end the first pipeline and, after
    a re-run, end the re-run's pipeline too (same connection per node, so a
    WAIT covers the re-run's writes); the last ``n`` results are theirs.
    """

    def __init__(self, client, trailer=None) -> None:
        self.client = client
        self.pipe = client.pipeline(transaction=False)
        self.trailer = trailer
        self._scripts: dict[int, tuple] = {}

    def script(self, script, keys: list, args: list) -> None:
        """Queue a registered script's call (KEYS, ARGV).

        redis-py's ClusterPipeline refuses its ``evalsha`` helper (redis-py
        #2914) but routes an ``EVALSHA`` sent through ``execute_command`` by
        its keys like any command, so this works on cluster pipelines too.
        """
        self._scripts[len(self.pipe)] = (script, keys, args)
        self.pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    def execute(self) -> list:
        trailing = self.trailer(self.pipe) if self.trailer else 0
        if not len(self.pipe):
            return []
        results = self.pipe.execute(raise_on_error=False)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError) and i in self._scripts]
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, NoScriptError):
                raise result
        if missing:
            again = self.client.pipeline(transaction=False)
            for index in missing:
                script, keys, args = self._scripts[index]
                again.execute_command("EVAL", script.script, len(keys), *keys, *args)
            if trailing:
                self.trailer(again)
            rerun = again.execute()
            for index, result in zip(missing, rerun, strict=False):
                results[index] = result
            if trailing:
                results[-trailing:] = rerun[len(missing) :]
        return results


def slot_groups(items, key_of, cluster: bool, size_of=None, limit: int | None = None) -> list[list]:
    """``items`` split into the groups of script calls, in order.

    On a Redis Cluster the keys of a group (``key_of(item)``) share one hash
    slot, as a script's keys must; on a single Redis any items go together.
    With ``limit``, a group is closed once the ``size_of`` of its items
    reaches it, so that no script holds Redis long.
    """
    groups: list[list] = []
    open_groups: dict[int, list] = {}
    sizes: dict[int, int] = {}
    for item in items:
        slot = key_slot(key_of(item).encode()) if cluster else 0
        group = open_groups.get(slot)
        if group is None or (limit is not None and sizes[slot] >= limit):
            group = open_groups[slot] = []
            sizes[slot] = 0
            groups.append(group)
        group.append(item)
        if limit is not None:
            sizes[slot] += size_of(item)
    return groups


class HotScript:
    """A read-only registered script that many requests call at once: the
    hot read of a route (the too-hot answer).

    Under gevent workers on a standalone Redis, calls go through
    ``SharedRoundTrips``: the calls of one worker's concurrent requests share
    a round trip, and skip redis-py's per-command path (pool checkout with
    its readiness poll, retry wrapper, bookkeeping), which costs a hot read
    more CPU than the rest of its request. Elsewhere (threads, a Redis
    Cluster) a call is an ordinary redis-py script call.

    After NOSCRIPT or a lost connection the call runs once more on the
    regular path, which loads the script or reconnects; the script must
    only read, so that running it twice is harmless.
    """

    def __init__(self, client, script) -> None:
        self.script = script
        shared = not isinstance(client, RedisCluster) and gevent_patched()
        self._shared = SharedRoundTrips(client.connection_pool) if shared else None

    def __call__(self, keys: list, args):
        if self._shared is None:
            return self.script(keys=keys, args=args)
        try:
            return self._shared.call(pack_command(("EVALSHA", self.script.sha, len(keys), *keys, *args)))
        except (NoScriptError, redis.exceptions.ConnectionError):
            return self.script(keys=keys, args=args)


def gevent_patched() -> bool:
    """True in a process whose sockets gevent has patched (gunicorn's gevent workers)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


class SharedRoundTrips:
    """Commands of the greenlets of one process, sent together.

    A call waits for one turn of the event loop (``gevent.sleep(0)``), so
    that the requests made ready in the same turn join it; one write sends
    them all on the process's connection, their replies are read in order,
    and each caller gets its own. Calls made while that round trip is in
    flight wait for the next. Under load, N requests cost Redis and the
    worker one wake-up instead of N.

    The wait is one turn, not "until the worker is idle" (``gevent.idle``):
    a worker kept busy by other requests (ingest posts, probes) is never
    idle, and answers waiting for it starved (measured: a p99 of 871 ms
    while /livez was hammered beside them).

    Each outcome is the reply or the error reply of its own command; a lost
    connection fails every command of the round trip with ConnectionError
    (the next round trip reconnects), a slow Redis with TimeoutError.
    """

    def __init__(self, pool) -> None:
        # Imported here: only processes that gevent patched build one.
        from gevent import get_hub, sleep, spawn
        from gevent.hub import Waiter

        self._get_hub, self._sleep, self._spawn, self._waiter = get_hub, sleep, spawn, Waiter
        self._pool = pool
        self._connection = None
        self._leading = False  # a greenlet gathers, sends or reads a round trip
        self._waiting: list = []  # (packed command, Waiter or None for the leader)
        self._pid = os.getpid()
        self.round_trips = 0

    def call(self, packed: bytes):
        if self._pid != os.getpid():
            # A forked child must not share its parent's socket.
            self._pid, self._connection, self._leading, self._waiting = os.getpid(), None, False, []
        if self._leading:
            waiter = self._waiter()
            self._waiting.append((packed, waiter))
            ok, value = waiter.get()
        else:
            self._leading = True
            self._waiting.append((packed, None))
            ok, value = self._lead()
        if ok:
            return value
        raise value

    def _lead(self):
        """Gather, send, read; hand each waiter its outcome; return the
        first's (the leading caller's own, if it is one)."""
        batch: list = []
        try:
            self._sleep(0)
            batch, self._waiting = self._waiting, []
            outcomes = self._round_trip(batch)
        except BaseException:
            # The leading greenlet was killed (or a bug): the calls of its
            # round trip fail (their callers retry on the regular path).
            self._close()
            interrupted = redis.exceptions.ConnectionError("round trip interrupted")
            self._settle(batch, [(False, interrupted)] * len(batch))
            self._hand_over()
            raise
        self._hand_over()
        self._settle(batch, outcomes)
        return outcomes[0]

    def _hand_over(self) -> None:
        if self._waiting:
            # Calls made meanwhile: a greenlet of their own leads them, as
            # the caller's greenlet may be gone before their replies come.
            self._spawn(self._lead)
        else:
            self._leading = False

    def _settle(self, batch: list, outcomes: list) -> None:
        """Wake each waiting caller with its outcome (from the hub, as gevent's Waiter wants)."""
        wake = self._get_hub().loop.run_callback
        for (_, waiter), outcome in zip(batch, outcomes, strict=True):
            if waiter is not None:
                wake(waiter.switch, outcome)

    def _round_trip(self, batch: list) -> list:
        self.round_trips += 1
        outcomes = []
        try:
            if self._connection is None:
                self._connection = self._pool.connection_class(**self._pool.connection_kwargs)
            self._connection.send_packed_command([b"".join(packed for packed, _ in batch)], check_health=False)
            for _ in batch:
                try:
                    outcomes.append((True, self._connection.read_response()))
                except redis.exceptions.ResponseError as error:
                    outcomes.append((False, error))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
            self._close()
            if not isinstance(error, redis.exceptions.RedisError):
                error = redis.exceptions.ConnectionError(str(error))
            outcomes += [(False, error)] * (len(batch) - len(outcomes))
        return outcomes

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
            self._connection = None


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
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, max_connections=settings.redis_max_connections, **common)
    return redis.Redis.from_url(settings.redis_url, max_connections=settings.redis_max_connections, **common)


class RedisExtension:
    """Flask extension holding the client and every registered script."""

    def __init__(self) -> None:
        self._scripts_key = "sensorhub.scripts"

    def init_app(self, app: Flask, settings: Settings, client=None) -> None:
        app.extensions["redis"] = client if client is not None else connect(settings)
        app.extensions[self._scripts_key] = []

    @staticmethod
    def client_for(app: Flask):
        return app.extensions["redis"]

    @property
    def client(self):
        return current_app.extensions["redis"]

    def register_script(self, app: Flask, package: str, filename: str, prelude: str = ""):
        """Register a package's ``.lua`` file once; returns a redis-py Script.

        redis-py's Script reloads itself on NOSCRIPT, so scripts survive
        ``SCRIPT FLUSH`` and a Redis restart. ``prelude``: Lua prepended to
        the file (helpers shared by several scripts, which cannot ``require``).
        """
        script = app.extensions["redis"].register_script(prelude + lua_source(package, filename))
        app.extensions[self._scripts_key].append(script)
        return script

    def ensure_scripts_loaded(self, app: Flask) -> None:
        """Load any script Redis does not have (after a flush or restart)."""
        client = app.extensions["redis"]
        scripts = app.extensions[self._scripts_key]
        if not scripts:
            return
        if isinstance(client, RedisCluster):
            # SCRIPT LOAD on a cluster client reaches every primary.
            for script in scripts:
                client.script_load(script.script)
            return
        present = client.script_exists(*[s.sha for s in scripts])
        for script, exists in zip(scripts, present, strict=True):
            if not exists:
                script.sha = client.script_load(script.script)


redis_ext = RedisExtension()
