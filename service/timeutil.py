"""Time in sensorhub: instants, the clock, time zones and local days.

An instant is a point in time whatever offset it was written in: readings
are identified by microseconds since the Unix epoch (UTC), and the text is
kept in the offset it was sent in for display. Server times (heartbeats,
events, webhooks) are written in UTC with milliseconds.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
# Instants outside this range are almost surely clock faults (and year 0001
# or 9999 with an offset cannot even be converted to UTC).
MIN_INSTANT = EPOCH
MAX_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)
MIN_US = 0
MAX_US = (MAX_INSTANT - EPOCH) // ONE_US

MSG_NOT_STRING = "Not a valid string: send an ISO 8601 timestamp such as 2021-11-08T22:38:09+01:00."
MSG_INVALID = "Not a valid ISO 8601 timestamp (example: 2021-11-08T22:38:09.123+01:00)."
MSG_NAIVE = "The timestamp has no UTC offset, so its instant is ambiguous: add Z or an offset such as +01:00."
MSG_RANGE = "The timestamp must lie between 1970-01-01 and 2100-01-01 UTC."


def parse_instant(text, assume_tz: tzinfo | None = None) -> tuple[int, str]:
    """``(microseconds since the epoch, ISO text in the sent offset)``.

    Raises ValueError with a message meant for the client. Fractions finer
    than a microsecond are truncated.
    """
    if type(text) is not str:
        raise ValueError(MSG_NOT_STRING)
    # datetime.fromisoformat reads a C string: it stops at a NUL character
    # and would take "…Z\x00junk" for the instant before it.
    if "\x00" in text:
        raise ValueError(MSG_INVALID)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # RFC 3339 (5.6) allows a lowercase "z", which fromisoformat refuses
        # (it takes a lowercase "t"). Tried only once the text failed: the
        # usual timestamp pays nothing for it. The "z" must follow the
        # seconds' (or fraction's) last digit.
        if text[-1:] != "z" or not text[-2:-1].isdigit():
            raise ValueError(MSG_INVALID) from None
        try:
            moment = datetime.fromisoformat(text[:-1] + "Z")
        except ValueError:
            raise ValueError(MSG_INVALID) from None
    if moment.tzinfo is None:
        if assume_tz is None:
            raise ValueError(MSG_NAIVE)
        moment = moment.replace(tzinfo=assume_tz)
    try:
        us = (moment - EPOCH) // ONE_US
    except OverflowError:
        raise ValueError(MSG_RANGE) from None
    if not MIN_US <= us < MAX_US:
        raise ValueError(MSG_RANGE)
    iso = moment.isoformat()
    if text[-1] in "Zz" and iso.endswith("+00:00"):
        iso = iso[:-6] + "Z"
    return us, iso


# A reading's epoch number counts these units (``?precision=``): microseconds per unit.
EPOCH_PRECISIONS = {"s": 1_000_000, "ms": 1_000, "us": 1}
EPOCH_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}
MSG_NOT_TIMESTAMP = (
    "Not a valid timestamp: send ISO 8601 text such as 2021-11-08T22:38:09+01:00, "
    "or a number since the Unix epoch (true and false are not numbers)."
)


def epoch_range_message(precision: str) -> str:
    """MSG_RANGE in the units of ``precision``: a number in the wrong units
    (milliseconds read as seconds) shows by how far it misses."""
    per_unit = EPOCH_PRECISIONS[precision]
    return (f"The timestamp must lie between 1970-01-01 and 2100-01-01 UTC: from 0 to below "
            f"{MAX_US // per_unit} {EPOCH_UNIT_NAMES[precision]} since the Unix epoch (precision {precision}).")


def epoch_to_us(number: int | float, precision: str = "s") -> int:
    """Microseconds since the epoch of a JSON number counted in ``precision``
    units; ValueError outside 1970-2100, NaN and infinities included.

    Exact: an integer is scaled in integer arithmetic, a float is read as
    the shortest decimal that gives it back (``repr``), the text a client
    sent: 1078977288.94025 s is .940250, where float arithmetic gives
    1078977288940249.9 us. Fractions finer than a microsecond are dropped,
    as in ISO text.
    """
    per_unit = EPOCH_PRECISIONS[precision]
    if type(number) is int:
        us = number * per_unit
    else:
        if not MIN_US <= number < MAX_US / per_unit:  # NaN too
            raise ValueError(epoch_range_message(precision))
        us = round(number * per_unit)
        # In 1970-2100 whole microseconds lie further apart than doubles, so
        # a float that is the double of a whole microsecond was sent as that
        # microsecond's decimal (what the repr below would give, cheaper);
        # any other is read from its decimal and truncated.
        if us / per_unit != number:
            us = math.floor(Decimal(repr(number)) * per_unit)
    if not MIN_US <= us < MAX_US:
        raise ValueError(epoch_range_message(precision))
    return us


def epoch_seconds_to_us(seconds: int | float) -> int:
    """Microseconds since the epoch of a JSON number of seconds (``epoch_to_us``);
    ValueError with MSG_RANGE outside 1970-2100."""
    try:
        return epoch_to_us(seconds, "s")
    except ValueError:
        raise ValueError(MSG_RANGE) from None


def reading_instant(stamp, precision: str = "s", assume_tz: tzinfo | None = None) -> tuple[int, str]:
    """A reading's timestamp, ISO 8601 text or an epoch number in
    ``precision`` units, as ``(microseconds since the epoch, ISO text)``: the
    text as sent, or in UTC for a number. Booleans are not numbers."""
    kind = type(stamp)
    if kind is str:
        return parse_instant(stamp, assume_tz)
    if kind is int or kind is float:
        us = epoch_to_us(stamp, precision)
        return us, us_to_iso(us)
    raise ValueError(MSG_NOT_TIMESTAMP)


def us_to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


_NAIVE_EPOCH = datetime(1970, 1, 1)
_DAY_US = 86_400_000_000
_DAY_PREFIXES: dict[int, str] = {}


def us_to_iso(us: int) -> str:
    """ISO 8601 UTC, ``Z``-suffixed, as ``datetime.isoformat`` writes it (no
    fraction when it is zero). Series and exports format thousands of
    instants: the date part is formatted once per day and kept (a bounded
    cache), the time of day by arithmetic."""
    day, rest = divmod(us, _DAY_US)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        if len(_DAY_PREFIXES) > 100_000:
            _DAY_PREFIXES.clear()
        prefix = _DAY_PREFIXES[day] = (_NAIVE_EPOCH + timedelta(days=day)).date().isoformat() + "T"
    seconds, micro = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if micro:
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}Z"
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def now_us() -> int:
    """The server's clock in microseconds since the epoch."""
    return time.time_ns() // 1000


def future_horizon_us(tolerance_s: int) -> int:
    """The latest instant a reading may carry now: the server's clock plus
    ``tolerance_s`` (FUTURE_TOLERANCE). Computed once per batch: its readings
    are each compared with it, one integer comparison."""
    return now_us() + tolerance_s * 1_000_000


def _span(seconds: float) -> str:
    """A length of time, roughly, in the largest unit that counts at least
    two of it: 90 s, 25 minutes, 9 hours, 73 years."""
    for unit, length in (("years", 365 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * length:
            return f"{seconds / length:.0f} {unit}"
    return f"{seconds:.0f} s"


def future_message(us: int, horizon_us: int, tolerance_s: int) -> str:
    """Why a reading at ``us``, later than ``horizon_us`` (``future_horizon_us``), is refused."""
    ahead = (us - (horizon_us - tolerance_s * 1_000_000)) / 1_000_000
    return (f"The timestamp is {_span(ahead)} ahead of the server's clock, more than the {tolerance_s} s allowed "
            "(FUTURE_TOLERANCE): the sender's clock may be wrong (not set, or local time labelled Z or UTC).")


def iso_now(now: float) -> str:
    """A server time (seconds since the epoch) as ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_UNENCODED_PLUS = re.compile(r" (\d\d:?\d\d)$")


def parse_query_instant(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 instant or epoch seconds.

    A "+" offset sent unencoded in a query string arrives as a space; it is
    read back as "+".
    """
    try:
        seconds = float(text)
    except ValueError:
        return parse_instant(_UNENCODED_PLUS.sub(r"+\1", text))[0]
    return epoch_seconds_to_us(seconds)


# -- time zones and local days -------------------------------------------------


def zone_from_name(name: str | None) -> tzinfo:
    """The zone of a ``timezone`` setting (a site's, an org's); UTC when there
    is none. ZoneInfoNotFoundError or ValueError for an unknown name."""
    if not name or name.upper() == "UTC":
        return UTC
    return ZoneInfo(name)


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    """``zone_from_name``, remembered: for names already known to be valid."""
    return zone_from_name(name)


@lru_cache(maxsize=4096)
def day_bounds(zone_name: str, day: date) -> tuple[int, int]:
    """(first, last+1) microsecond of a local day: 23, 24 or 25 hours long."""
    tz = zone(zone_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz)
    return (start - EPOCH) // ONE_US, (end - EPOCH) // ONE_US
