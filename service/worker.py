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
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from .app import create_app
from .heartbeats.detector import OfflineDetector
from .logs import configure_logging
from .redisdb.connection import UNAVAILABLE_ERRORS, refuse_start_on_refused_credentials
from .settings import Settings
from .stores import stores
from .webhooks.pool import DeliveryPool
from .webhooks.store import consumer_name

log = logging.getLogger("sensorhub.worker")
# Pause after Redis failed to answer, before trying again.
BACKOFF_SECONDS = 1.0
# Pause between checks that the sensor id index is complete (and the
# history backfill done).
ID_INDEX_CHECK_SECONDS = 60.0
# Pause between checks for bucket hashes of readings ready to roll up (the
# horizon moves once per BUCKET_SECONDS; a check that finds it unmoved costs
# one HGET).
SEAL_CHECK_SECONDS = 30.0
# Pause between looks for cleared sensors' history to reclaim.
RECLAIM_CHECK_SECONDS = 10.0


class Worker:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.app = create_app(settings)
        built = stores(self.app)
        self.client = built.client
        self.stop = threading.Event()
        self.consumer = consumer_name()
        self.detector = OfflineDetector(self.client, built.heartbeats)
        self.webhooks = built.webhooks
        self.deliveries = DeliveryPool(self.webhooks, settings.webhook_concurrency)
        self.registry = built.sensors
        self.history = built.history

    def _loop(self, name: str, step, pause: float) -> None:
        while not self.stop.is_set():
            try:
                busy = step()
            except UNAVAILABLE_ERRORS as exc:
                log.warning("redis unavailable", extra={"fields": {
                    "loop": name, "error": repr(exc), "redis": self.settings.redis_server}})
                self.stop.wait(BACKOFF_SECONDS)
                continue
            except Exception:
                log.exception("worker step failed", extra={"fields": {"loop": name}})
                self.stop.wait(BACKOFF_SECONDS)
                continue
            if not busy:
                self.stop.wait(pause)

    def _detect(self) -> bool:
        events = self.detector.run_once()
        for event in events:
            log.info("event", extra={"fields": {"type": event["type"], "sensor": event.get("sensor"), "id": event["id"]}})
        return False  # always wait for the next interval

    def _fan_out(self) -> bool:
        # Blocks in Redis up to a second for new entries: no polling delay.
        fanned_out = self.webhooks.fan_out(self.consumer, block_ms=1000) > 0
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

    def run(self) -> None:
        self.webhooks.ensure_group()
        self.webhooks.adopt_pending()
        interval = self.settings.offline_check_interval
        threads = [
            threading.Thread(target=self._loop, args=("detect", self._detect, interval), name="detect", daemon=True),
            threading.Thread(target=self._loop, args=("fan-out", self._fan_out, 0.05), name="fan-out", daemon=True),
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
        for thread in threads:
            thread.start()
        log.info("worker started", extra={"fields": {"consumer": self.consumer, "offline_after": self.settings.offline_after}})
        self.stop.wait()
        # A delivery in flight ends within its timeout; one cut short is
        # retried by another worker when its lease runs out.
        for thread in threads:
            thread.join(timeout=2 * self.settings.webhook_timeout + 2)
        self.deliveries.close()
        log.info("worker stopped", extra={"fields": {"consumer": self.consumer}})


def main() -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if settings.redis_url and refuse_start_on_refused_credentials(settings, log):
        return 1
    worker = Worker(settings)

    def request_stop(signum, frame):
        worker.stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
