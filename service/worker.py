"""The background worker: ``python -m service.worker`` (``make worker``).

Runs seven loops until SIGTERM or SIGINT:
- offline/online detection every OFFLINE_CHECK_INTERVAL seconds;
- webhook fan-out from the event stream's consumer group;
- webhook delivery of due (new or retried) deliveries, attempted
  concurrently on WEBHOOK_CONCURRENCY threads, fairly between webhooks;
- once per deployment, filling the sensor id index (``sensors:ids``) for
  data written before it existed; afterwards one EXISTS a minute;
- rolling up into the history tiers the readings around now that waited
  in their bucket hash (``history.store.HistoryStore.seal_step``), each
  hour an hour after it ends;
- once per deployment, the history backfill: rolling up into the history
  tiers the readings written before history existed; afterwards likewise;
- reclaiming the history tiers of sensors cleared by DELETE.
Any number of workers may run against one Redis: transitions are claimed
atomically, stream entries and deliveries are handed to one worker at a
time, and whatever a dead worker held is taken over by the others.

Redis may be unreachable at start or at any time after (a restart, a
failover, a full cluster): the worker waits for it with capped exponential
backoff, logs each change once (connected, lost, reconnected) and never
exits for it. Its own HTTP port (WORKER_PORT) answers /livez, /readyz and
/metrics (service.worker_http).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time

from redis.backoff import EqualJitterBackoff
from redis.exceptions import RedisClusterException, ResponseError

from . import keys
from .app import create_app
from .heartbeats.detector import OfflineDetector
from .logs import configure_logging
from .metrics import (
    BUILD_INFO,
    SENSORS_BY_STATUS,
    WORKER_LAST_PASS,
    WORKER_LOOP_LAG,
    WORKER_REDIS_CONNECTED,
    WORKER_REDIS_RECONNECTS,
)
from .ops.store import is_late
from .redisdb.connection import UNAVAILABLE_ERRORS, refuse_start_on_refused_credentials
from .settings import Settings
from .stores import stores
from .webhooks.pool import DeliveryPool
from .webhooks.store import consumer_name
from .worker_http import serve_probes

log = logging.getLogger("sensorhub.worker")
# Pause after Redis failed to answer: from BACKOFF_SECONDS, doubling with
# each failure in a row, at most BACKOFF_MAX_SECONDS (jittered by half, so
# that many workers do not retry in step).
BACKOFF_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 5.0
# Errors that mean Redis is not there right now; a cluster client that
# reaches no node at all raises RedisClusterException.
TRANSIENT_ERRORS = (*UNAVAILABLE_ERRORS, RedisClusterException)
# Pause between checks that the sensor id index is complete (and the
# history backfill done).
ID_INDEX_CHECK_SECONDS = 60.0
# Pause between checks for bucket hashes of readings ready to roll up (the
# horizon moves once per BUCKET_SECONDS; a check that finds it unmoved costs
# one HGET).
SEAL_CHECK_SECONDS = 30.0
# Pause between looks for cleared sensors' history to reclaim.
RECLAIM_CHECK_SECONDS = 10.0


def backoff() -> EqualJitterBackoff:
    return EqualJitterBackoff(cap=BACKOFF_MAX_SECONDS, base=BACKOFF_SECONDS)


class WorkerHealth:
    """What the worker's probes and metrics tell: whether Redis answers
    (each change logged once, by whichever loop notices it first), when
    the last detection pass completed, and whether every loop still runs."""

    def __init__(self, interval: float, name: str, server: str = ""):
        self.interval = interval
        self.name = name
        self.server = server  # host:port of Redis, named in each log line
        self.started = time.time()
        self.last_pass: float | None = None
        self.threads: list[threading.Thread] = []
        self._redis: str = "connecting"  # connecting, connected, lost
        self._lost_at = 0.0
        self._lock = threading.Lock()
        WORKER_REDIS_CONNECTED.set(0)

    @property
    def redis_connected(self) -> bool:
        return self._redis == "connected"

    def redis_answered(self) -> None:
        if self._redis == "connected":  # the common case, without the lock
            return
        with self._lock:
            before, self._redis = self._redis, "connected"
        if before == "connected":
            return
        WORKER_REDIS_CONNECTED.set(1)
        if before == "connecting":
            log.info("redis connected", extra={"fields": {"worker": self.name, "redis": self.server}})
        else:
            WORKER_REDIS_RECONNECTS.inc()
            log.warning("redis reconnected", extra={"fields": {
                "worker": self.name, "redis": self.server, "down_seconds": round(time.monotonic() - self._lost_at, 3)}})

    def redis_failed(self, exc: BaseException) -> None:
        with self._lock:
            before = self._redis
            if before == "connected":
                self._redis, self._lost_at = "lost", time.monotonic()
            elif before == "connecting" and not self._lost_at:
                self._lost_at = time.monotonic()  # logged once: not there yet
            else:
                return
        WORKER_REDIS_CONNECTED.set(0)
        if before == "connected":
            log.error("redis lost", extra={"fields": {"worker": self.name, "redis": self.server, "error": f"{type(exc).__name__}: {exc}"}})
        else:
            log.warning("redis not reachable yet; retrying",
                        extra={"fields": {"worker": self.name, "redis": self.server, "error": f"{type(exc).__name__}: {exc}"}})

    def passed(self, now: float) -> None:
        if self.last_pass is not None:
            WORKER_LOOP_LAG.set(max(0.0, now - self.last_pass - self.interval))
        self.last_pass = now
        WORKER_LAST_PASS.set(now)

    def late(self, now: float | None = None) -> bool:
        """No detection pass completed within the last few intervals (since start, if none yet)."""
        now = time.time() if now is None else now
        return is_late(self.last_pass if self.last_pass is not None else self.started, self.interval, now)

    def alive(self) -> bool:
        """Every loop thread still runs (before they start: the start is under way)."""
        return all(thread.is_alive() for thread in self.threads)


class Worker:
    def __init__(self, settings: Settings, health: WorkerHealth | None = None, stop: threading.Event | None = None):
        """Builds the stores; on a Redis Cluster this reaches Redis and may
        raise one of TRANSIENT_ERRORS (``build`` retries)."""
        self.settings = settings
        self.consumer = health.name if health is not None else consumer_name()
        self.health = health or WorkerHealth(settings.offline_check_interval, self.consumer, settings.redis_server)
        self.stop = stop or threading.Event()
        self.app = create_app(settings)
        built = stores(self.app)
        self.client = built.client
        self.detector = OfflineDetector(self.client, built.heartbeats)
        self.webhooks = built.webhooks
        self.deliveries = DeliveryPool(self.webhooks, settings.webhook_concurrency)
        self.registry = built.sensors
        self.history = built.history
        self.passes = built.workers

    def _loop(self, name: str, step, pause: float, reaches_redis: bool = False) -> None:
        """Run ``step`` until stopped. Only a loop whose every step reaches
        Redis (``reaches_redis``) reports it back: others may answer from
        what they remember (the backfill once done)."""
        failures = 0
        retry = backoff()
        while not self.stop.is_set():
            try:
                busy = step()
            except TRANSIENT_ERRORS as exc:
                failures += 1
                self.health.redis_failed(exc)
                self.stop.wait(retry.compute(failures))
                continue
            except Exception:
                # A bug or an unexpected answer: logged with its traceback,
                # and the loop goes on.
                failures += 1
                log.exception("worker step failed", extra={"fields": {"loop": name}})
                self.stop.wait(retry.compute(failures))
                continue
            failures = 0
            if reaches_redis:
                self.health.redis_answered()
            if not busy:
                self.stop.wait(pause)

    def _detect(self) -> bool:
        events = self.detector.run_once()
        for event in events:
            log.info("event", extra={"fields": {"type": event["type"], "sensor": event.get("sensor"), "id": event["id"]}})
        now = time.time()
        self.passes.record(self.consumer, self.settings.offline_check_interval, now)
        self._count_sensors()
        self.health.passed(now)
        return False  # always wait for the next interval

    def _count_sensors(self) -> None:
        # Two ZCARDs per pass: the fleet's figures without a scan per scrape.
        offline = self.client.zcard(keys.EVENTS_OFFLINE)
        SENSORS_BY_STATUS.labels("offline").set(offline)
        SENSORS_BY_STATUS.labels("online").set(max(0, self.client.zcard(keys.SENSORS_SEEN) - offline))

    def _fan_out(self) -> bool:
        # Blocks in Redis up to a second for new entries: no polling delay.
        try:
            fanned_out = self.webhooks.fan_out(self.consumer, block_ms=1000) > 0
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis came back without the stream (a restart without its
            # data, a flush): the group starts again at the stream's end.
            log.warning("event stream consumer group missing; created again")
            self.webhooks.ensure_group()
            return True
        if fanned_out:
            self.deliveries.wake()
        return fanned_out

    def _deliver(self) -> bool:
        return self.deliveries.step()

    def _fill_id_index(self) -> bool:
        return self.registry.fill_id_index()

    def _seal(self) -> bool:
        sealed = self.history.seal_step()
        if sealed:
            log.info("history rolled up", extra={"fields": {"bucket_hashes": sealed}})
        return False  # the horizon moves with the clock: wait for the next check

    def _backfill_history(self) -> bool:
        return self.history.backfill_step()

    def _reclaim_history(self) -> bool:
        return self.history.reclaim_step()

    def prepare(self) -> None:
        """What must reach Redis before the loops start (raises TRANSIENT_ERRORS)."""
        self.webhooks.ensure_group()
        self.webhooks.adopt_pending()
        self.health.redis_answered()

    def run(self) -> None:
        """Prepare (waiting for Redis as long as it takes), run the loops until ``stop``."""
        failures = 0
        retry = backoff()
        while not self.stop.is_set():
            try:
                self.prepare()
                break
            except TRANSIENT_ERRORS as exc:
                self.health.redis_failed(exc)
            except Exception:
                # Redis answered, but not as hoped (full, say): tried again.
                log.exception("worker start failed; retrying")
            failures += 1
            self.stop.wait(retry.compute(failures))
        if self.stop.is_set():
            return
        interval = self.settings.offline_check_interval
        threads = [
            threading.Thread(target=self._loop, args=("detect", self._detect, interval, True), name="detect", daemon=True),
            threading.Thread(target=self._loop, args=("fan-out", self._fan_out, 0.05, True), name="fan-out", daemon=True),
            # Waits in the pool (pool.WAIT_SECONDS) when there is nothing to lease.
            threading.Thread(target=self._loop, args=("deliver", self._deliver, 0.2), name="deliver", daemon=True),
            threading.Thread(target=self._loop, args=("id-index", self._fill_id_index, ID_INDEX_CHECK_SECONDS),
                             name="id-index", daemon=True),
            threading.Thread(target=self._loop, args=("seal", self._seal, SEAL_CHECK_SECONDS), name="seal", daemon=True),
            threading.Thread(target=self._loop, args=("history-backfill", self._backfill_history, ID_INDEX_CHECK_SECONDS),
                             name="history-backfill", daemon=True),
            threading.Thread(target=self._loop, args=("history-reclaim", self._reclaim_history, RECLAIM_CHECK_SECONDS),
                             name="history-reclaim", daemon=True),
        ]
        self.health.threads = threads
        for thread in threads:
            thread.start()
        log.info("worker started", extra={"fields": {"consumer": self.consumer, "offline_after": self.settings.offline_after}})
        self.stop.wait()
        # A delivery in flight ends within its timeout; one cut short is
        # retried by another worker when its lease runs out.
        for thread in threads:
            thread.join(timeout=2 * self.settings.webhook_timeout + 2)
        self.deliveries.close()
        try:
            self.passes.forget(self.consumer)
        except TRANSIENT_ERRORS:
            pass  # its record ages into "late", then is forgotten after a day
        log.info("worker stopped", extra={"fields": {"consumer": self.consumer}})


def build(settings: Settings, health: WorkerHealth, stop: threading.Event) -> Worker | None:
    """A Worker, once its stores could be built (a Redis Cluster client
    reaches a node first); None when stopped before that."""
    failures = 0
    retry = backoff()
    while not stop.is_set():
        try:
            return Worker(settings, health, stop)
        except TRANSIENT_ERRORS as exc:
            failures += 1
            health.redis_failed(exc)
            stop.wait(retry.compute(failures))
    return None


def main() -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if settings.redis_url and refuse_start_on_refused_credentials(settings, log):
        return 1
    stop = threading.Event()

    def request_stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    health = WorkerHealth(settings.offline_check_interval, consumer_name(), settings.redis_server)
    server = serve_probes(health, settings) if settings.worker_port else None
    BUILD_INFO.labels(settings.version).set(1)
    try:
        worker = build(settings, health, stop)
        if worker is not None:
            worker.run()
    finally:
        if server is not None:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
