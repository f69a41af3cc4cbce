"""Background workers' detection passes, as each worker records them in
Redis (``keys.WORKER_PASSES``) and ``GET /v1/status`` reads them."""

from __future__ import annotations

import time

import orjson

from .. import keys

# A worker is late once it completed no detection pass for this many of its
# intervals: one slow pass is not late, a stalled worker soon is.
LATE_AFTER_INTERVALS = 3
# A worker's record not rewritten for this long is a worker that is gone.
FORGET_AFTER_SECONDS = 86400


def is_late(last_pass: float, interval: float, now: float) -> bool:
    return now - last_pass > LATE_AFTER_INTERVALS * interval


class WorkerPasses:
    def __init__(self, client):
        self.client = client

    def record(self, worker: str, interval: float, now: float | None = None) -> None:
        """``worker`` completed a detection pass (at ``now``); records of
        workers gone for a day are dropped on the way (a handful of fields)."""
        now = time.time() if now is None else now
        self.client.hset(keys.WORKER_PASSES, worker, orjson.dumps({"at": now, "interval": interval}))
        gone = [name for name, last in self._all().items() if now - last["at"] > FORGET_AFTER_SECONDS]
        if gone:
            self.client.hdel(keys.WORKER_PASSES, *gone)

    def forget(self, worker: str) -> None:
        """``worker`` stops: it is no longer expected to pass."""
        self.client.hdel(keys.WORKER_PASSES, worker)

    def status(self, now: float | None = None) -> list[dict]:
        """Each worker's last pass, its age and whether it is late, by name."""
        now = time.time() if now is None else now
        return [
            {
                "worker": name,
                "last_pass": last["at"],
                "interval": last["interval"],
                "age": max(0.0, now - last["at"]),
                "late": is_late(last["at"], last["interval"], now),
            }
            for name, last in sorted(self._all().items())
        ]

    def _all(self) -> dict[str, dict]:
        return {name.decode(): orjson.loads(raw) for name, raw in self.client.hgetall(keys.WORKER_PASSES).items()}
