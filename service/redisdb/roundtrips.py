"""Round trips shared by the concurrent calls of a hot read, under gevent."""

from __future__ import annotations

import os
import sys

import redis
from hiredis import pack_command
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError


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
