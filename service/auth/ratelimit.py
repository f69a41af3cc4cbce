"""Per-key request rate limits and the throttle of failed key guesses,
counted in Redis so they hold across replicas."""

from __future__ import annotations

import hashlib
import math
import time

from .. import keys
from ..errors import abort
from ..metrics import AUTH_FAILURES

# Characters of a presented key whose guesses are counted together.
PREFIX_LENGTH = 8
# Guesses sharing a key prefix may come from many addresses (a distributed
# search), but legitimate keys may share a prefix too: a looser limit.
PREFIX_LIMIT_FACTOR = 10
WINDOW_MS = 60_000


def too_many(wait_ms, message: str) -> None:
    """429 with Retry-After, the whole seconds until a window ends."""
    retry_after = max(1, math.ceil(int(wait_ms) / 1000))
    abort(429, f"{message}; retry in {retry_after} s.", headers={"Retry-After": str(retry_after)})


class RateLimiter:
    """A fixed one-second window per key: one script call (one round trip)
    per request of a rate-limited key, nothing for the others.
    ``window``: the registered ``ratelimit.lua``."""

    def __init__(self, window):
        self._count = window

    def check(self, who) -> None:
        """429 with Retry-After when ``who`` is over its limit in this window."""
        wait_ms = self._count(keys=[keys.rate_limit(who.key_id)], args=[who.rate_limit, 1000, "1"])
        if wait_ms:
            too_many(wait_ms, f"Over this API key's limit of {who.rate_limit} requests per second")


class FailedKeyThrottle:
    """At most ``per_minute`` failed key guesses a minute from one client
    address: past that every key from there, valid or not, is answered 429
    with Retry-After until the window ends, so guessing gains nothing.
    Guesses sharing a key prefix are counted too, from any address (ten
    times the limit): past that, wrong keys with that prefix get 429
    instead of 401; a valid key is never refused for its prefix.

    Counting costs a round trip only on a failure. A success pays one only
    while this process has seen failures from its address in the current
    window (``_suspects``): a client that never guessed wrong is never
    slowed. Another replica that has not seen that client's failures lets
    at most one more guess through before it learns of them.
    ``window``: the registered ``ratelimit.lua``.
    """

    def __init__(self, window, per_minute: int):
        self._count = window
        self.limits = (per_minute, per_minute * PREFIX_LIMIT_FACTOR)
        # Address counter -> monotonic time its window ends at the latest.
        self._suspects: dict[str, float] = {}

    def refuse_if_blocked(self, address: str) -> None:
        """429 when this address is over its limit; before the key is looked at."""
        if not self._suspects:
            return
        counter = keys.auth_failures(f"addr:{address}")
        until = self._suspects.get(counter)
        if until is None:
            return
        if until <= time.monotonic():
            del self._suspects[counter]
            return
        self._refuse_if_waiting(self._count(keys=[counter], args=[self.limits[0], WINDOW_MS, "0"]))

    def failed(self, address: str, presented: str) -> None:
        """Count a failed guess; 429 instead of 401 once over a limit."""
        now = time.monotonic()
        if len(self._suspects) > 10_000:
            self._suspects = {c: until for c, until in self._suspects.items() if until > now}
        by_address = keys.auth_failures(f"addr:{address}")
        prefix = hashlib.sha256(presented[:PREFIX_LENGTH].encode("utf-8", "surrogatepass")).hexdigest()[:16]
        self._suspects[by_address] = now + WINDOW_MS / 1000
        wait_ms = 0
        for counter, limit in zip((by_address, keys.auth_failures(f"prefix:{prefix}")), self.limits, strict=True):
            wait_ms = max(wait_ms, int(self._count(keys=[counter], args=[limit, WINDOW_MS, "1"])))
        self._refuse_if_waiting(wait_ms)

    @staticmethod
    def _refuse_if_waiting(wait_ms) -> None:
        if wait_ms:
            AUTH_FAILURES.labels("throttled").inc()
            too_many(wait_ms, "Too many requests with API keys that are not valid from this client")
