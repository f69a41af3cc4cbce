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
# Longest wait for a reason to lease again (a delivery in flight ended, new
# deliveries were fanned out here) before leasing anyway: deliveries fanned
# out by another worker, or due for a retry, wait at most this long.
WAIT_SECONDS = 0.2


class DeliveryPool:
    """Leases only as many deliveries as it has idle threads: a lease's
    clock starts when it is taken, so none waits in a local queue."""

    def __init__(self, store: WebhookStore, size: int):
        self.store = store
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="deliver")
        self._idle = size
        self._changed = threading.Condition()
        self._woken = False

    def step(self) -> bool:
        """Lease due deliveries for the idle threads and start them; when
        there was nothing to lease, wait for a reason to look again (at
        most WAIT_SECONDS). Returns True: the caller may step again at once."""
        with self._changed:
            idle = self._idle
            self._woken = False
        leases = self.store.lease_due(limit=idle) if idle else []
        with self._changed:
            self._idle -= len(leases)
            if not leases and not self._woken:
                self._changed.wait(WAIT_SECONDS)
        for lease in leases:
            self._executor.submit(self._run, lease)
        return True

    def wake(self) -> None:
        """New deliveries may be due (this worker fanned out events)."""
        with self._changed:
            self._woken = True
            self._changed.notify()

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
                self._woken = True  # its webhook's slot is free
                self._changed.notify()

    def close(self) -> None:
        """Wait for the deliveries in flight (each ends within its timeout)."""
        self._executor.shutdown(wait=True)
