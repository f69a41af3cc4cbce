"""Per-key request rate limits, counted in Redis so they hold across replicas."""

from __future__ import annotations

import math

from .. import keys
from ..errors import abort
from ..redisdb.scripts import Scripts


class RateLimiter:
    """A fixed one-second window per key: one script call (one round trip)
    per request of a rate-limited key, nothing for the others."""

    def __init__(self, scripts: Scripts):
        self._count = scripts.register(__package__, "ratelimit.lua")

    def check(self, who) -> None:
        """429 with Retry-After when ``who`` is over its limit in this window."""
        wait_ms = self._count(keys=[keys.rate_limit(who.key_id)], args=[who.rate_limit])
        if wait_ms:
            retry_after = max(1, math.ceil(int(wait_ms) / 1000))
            abort(
                429,
                f"Over this API key's limit of {who.rate_limit} requests per second; retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
