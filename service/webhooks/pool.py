"""The worker's delivery pool: leased deliveries attempted concurrently on
WEBHOOK_CONCURRENCY threads, so a receiver that hangs holds only its own
(at most WEBHOOK_ENDPOINT_CONCURRENCY, ``lease.lua``) and the others'
deliveries go on."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from .store import Lease, WebhookStore

log = logging.getLogger("sensorhub.webhooks")
# Longest wait for a delivery in flight to end before the loop leases
# again (newly due ones) or looks at its stop flag.
FULL_WAIT_SECONDS = 0.2


class DeliveryPool:
    """Leases only as many deliveries as it has idle threads: a lease's
    clock starts when it is taken, so none waits in a local queue."""

    def __init__(self, store: WebhookStore, size: int):
        self.store = store
        self.size = size
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="deliver")
        self._idle = size
        self._changed = threading.Condition()

    def step(self) -> bool:
        """Lease due deliveries for the idle threads and start them; True
        when the caller should ask again at once: something was leased, or
        a delivery in flight ended (it may have freed its webhook's slot)."""
        with self._changed:
            if not self._idle:
                self._changed.wait(FULL_WAIT_SECONDS)
                return True
            idle = self._idle
        leases = self.store.lease_due(limit=idle)
        with self._changed:
            self._idle -= len(leases)
            if not leases and self._idle < self.size:
                return self._changed.wait(FULL_WAIT_SECONDS)
        for lease in leases:
            self._executor.submit(self._run, lease)
        return bool(leases)

    def _run(self, lease: Lease) -> None:
        try:
            self.store.attempt(lease)
        except Exception:
            # Redis failed to settle it: the lease runs out and it is
            # attempted again (same Idempotency-Key).
            log.exception("webhook delivery not settled", extra={"fields": {"delivery": lease.member}})
        finally:
            with self._changed:
                self._idle += 1
                self._changed.notify()

    def close(self) -> None:
        """Wait for the deliveries in flight (each ends within its timeout)."""
        self._executor.shutdown(wait=True)
