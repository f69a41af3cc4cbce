"""A range answered from the raw readings and the history tiers, joined.

``plan`` (store.py) says which source answers which part of a range; this
module turns that into what to read and merges what was read into output
buckets (a series) or one total (an aggregate). The series and aggregate
routes use it, and so can anything else that answers ranges (an export).

- ``Grid``: the output buckets: fixed sizes aligned on their size in UTC
  (1m to 1d, and 1w from Monday), or calendar buckets (1d, 1w, 1mo) from
  local midnight in a time zone.
- ``parts``: the plan's segments as ``Part``s: the raw part read in steps
  that divide the output buckets; each tier part from the coarsest tier
  whose buckets fit in the output buckets (a daily series in UTC reads the
  daily tier even where the hourly one holds the range: the same sums,
  24 times fewer buckets), from the planned tier at the edges.
- ``merge`` and ``total``: (start, count, exact sum, min, max) items in
  time order -> output buckets, or one aggregate.

A tier part counts the tier buckets that start in it: the plan aligns the
seams on tier buckets, so no reading is counted twice or missed there; at
the range's own ends, older than the raw readings, the answer is in whole
tier buckets (``sources`` says which span each part covers).
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import NamedTuple

from .. import exactsum, timeutil
from ..windows import SERIES_BUCKETS
from .store import RangeTooOld, Tier, duration_name

DAY_US = 86400 * 1_000_000
# 1970-01-05, the first Monday after the epoch: weeks start on it.
MONDAY_US = 4 * DAY_US
# Steps the raw part may be read in, coarsest first (seconds): the coarsest
# that fits the output buckets wins (fewer steps to merge).
RAW_STEPS = (86400, 3600, 1800, 900, 300, 60, 1)


class Unanswerable(ValueError):
    """A range that cannot be answered in these buckets: ``field`` is the
    query parameter at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _floor(value: int, step: int, origin: int = 0) -> int:
    return origin + (value - origin) // step * step


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


class Grid:
    """Output buckets of a fixed size, aligned on multiples of it from
    ``origin`` (UTC)."""

    local = False  # whether bucket starts follow a time zone's midnight

    def __init__(self, size_us: int, origin_us: int = 0):
        self.size_us = size_us
        self.origin_us = origin_us

    def floor(self, us: int) -> int:
        """Start of the output bucket holding ``us``."""
        return _floor(us, self.size_us, self.origin_us)

    def next(self, start_us: int) -> int:
        """Start of the bucket after the one starting at ``start_us``."""
        return start_us + self.size_us

    def count(self, start_us: int, end_us: int) -> int:
        """Output buckets overlapping [start, end)."""
        return (self.floor(end_us - 1) - self.floor(start_us)) // self.size_us + 1

    def follows(self, step_us: int, start_us: int, end_us: int) -> bool:
        """Whether every bucket start in (start, end) is a multiple of
        ``step_us``: a step (or tier bucket) never straddles two buckets."""
        return self.size_us % step_us == 0 and self.origin_us % step_us == 0


class Whole(Grid):
    """One bucket holding everything (an aggregate over a range)."""

    def __init__(self):
        super().__init__(1)

    def floor(self, us: int) -> int:
        return 0

    def count(self, start_us: int, end_us: int) -> int:
        return 1

    def follows(self, step_us: int, start_us: int, end_us: int) -> bool:
        return True


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


class CalendarGrid(Grid):
    """Days, ISO weeks or calendar months from local midnight in a zone
    (23, 24 or 25 hours a day across daylight saving)."""

    local = True

    def __init__(self, name: str, zone_name: str):
        super().__init__(0)
        self.name = name
        self.zone_name = zone_name
        self.zone = timeutil.zone(zone_name)

    def _local_date(self, us: int) -> date:
        return timeutil.us_to_datetime(us).astimezone(self.zone).date()

    def _period(self, day: date) -> date:
        if self.name == "1w":
            return day - timedelta(days=day.weekday())
        if self.name == "1mo":
            return day.replace(day=1)
        return day

    def _after(self, period: date) -> date:
        if self.name == "1w":
            return period + timedelta(days=7)
        if self.name == "1mo":
            return _next_month(period)
        return period + timedelta(days=1)

    def _midnight(self, day: date) -> int:
        return timeutil.day_bounds(self.zone_name, day)[0]

    def floor(self, us: int) -> int:
        return self._midnight(self._period(self._local_date(us)))

    def next(self, start_us: int) -> int:
        return self._midnight(self._after(self._period(self._local_date(start_us))))

    def count(self, start_us: int, end_us: int) -> int:
        first, last = self._period(self._local_date(start_us)), self._period(self._local_date(end_us - 1))
        if self.name == "1mo":
            return (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1
        return (last - first).days // (7 if self.name == "1w" else 1) + 1

    def follows(self, step_us: int, start_us: int, end_us: int) -> bool:
        at = self.next(self.floor(start_us))
        while at < end_us:
            if at % step_us:
                return False
            at = self.next(at)
        return True


def grid(bucket: str, zone_name: str = "UTC") -> Grid:
    """The output buckets of a series: ``bucket`` a SERIES_BUCKETS name.
    Sub-day buckets are aligned in UTC whatever the zone."""
    seconds = SERIES_BUCKETS[bucket]
    utc = timeutil.zone(zone_name) is timeutil.UTC
    if seconds is not None and (seconds < 86400 or utc):
        return Grid(seconds * 1_000_000, MONDAY_US if bucket == "1w" else 0)
    return CalendarGrid(bucket, zone_name)


class Part(NamedTuple):
    """One part of a range and how to read it: ``source`` "raw" (series.lua
    in steps of ``step_us``) or a tier's name (its buckets starting in
    [start, end)). ``aligned``: set (the tier's name) when the tier's buckets
    cannot follow the output buckets (a :30 offset and hourly buckets): each
    is counted whole in the output bucket holding its start."""

    source: str
    tier: Tier | None
    start_us: int
    end_us: int
    step_us: int
    aligned: str | None = None

    def covered(self) -> tuple[int, int]:
        """The span whose readings the part counts: a tier's whole buckets."""
        if self.tier is None:
            return self.start_us, self.end_us
        return _ceil(self.start_us, self.tier.us), _ceil(self.end_us, self.tier.us)


def _raw_step(out: Grid, start_us: int, end_us: int) -> int:
    return next(s * 1_000_000 for s in RAW_STEPS if out.follows(s * 1_000_000, start_us, end_us))


def _tier_part(out: Grid, tier: Tier, start_us: int, end_us: int, finer_from: int) -> Part:
    name = duration_name(tier.seconds)
    if out.follows(tier.us, start_us, end_us):
        return Part(name, tier, start_us, end_us, tier.us)
    if out.local and tier.seconds < 86400:
        return Part(name, tier, start_us, end_us, tier.us, aligned=name)
    since = timeutil.us_to_iso(finer_from)
    if out.local:
        raise Unanswerable("tz", (
            f"Before {since} this sensor's history is kept in {name} buckets of UTC days, which cannot start at "
            f"midnight in {out.zone_name}: use tz=UTC, or start at {since} or later."))
    raise Unanswerable("bucket", (
        f"Before {since} this sensor's history is kept in {name} buckets: ask for bucket={name} or coarser "
        f"(aligned on it), or start at {since} or later."))


def _tier_parts(out: Grid, tiers, planned: Tier, start_us: int, end_us: int) -> list[Part]:
    """A tier segment, its middle read from the coarsest tier that fits the
    output buckets (identical sums, fewer buckets), its edges from the
    planned tier."""
    for coarse in reversed(tiers):
        if coarse.seconds <= planned.seconds:
            break
        low, high = _ceil(start_us, coarse.us), _floor(end_us, coarse.us)
        if low < high and out.follows(coarse.us, low, high):
            return [
                *([_tier_part(out, planned, start_us, low, end_us)] if start_us < low else []),
                Part(duration_name(coarse.seconds), coarse, low, high, coarse.us),
                *([_tier_part(out, planned, high, end_us, end_us)] if high < end_us else []),
            ]
    return [_tier_part(out, planned, start_us, end_us, end_us)]


def parts(history, out: Grid, start_us: int, end_us: int, now_us: int, retention: int) -> list[Part]:
    """What to read for [start, end) in ``out``'s buckets, oldest first.
    Unanswerable naming ``start`` when the range reaches before the longest
    tier; ``bucket`` or ``tz`` when an old part's tier cannot follow the
    output buckets."""
    try:
        segments = history.plan(start_us, end_us, now_us, retention)
    except RangeTooOld as exc:
        oldest = timeutil.us_to_iso(exc.args[0])
        raise Unanswerable("start", f"The history reaches back to {oldest}; start at it or later.") from None
    found = []
    for segment in segments:
        if segment.tier is None:
            found.append(Part("raw", None, segment.start_us, segment.end_us,
                              _raw_step(out, segment.start_us, segment.end_us)))
        else:
            found += _tier_parts(out, history.tiers, segment.tier, segment.start_us, segment.end_us)
    return [part for part in found if part.covered()[0] < part.covered()[1]]


def sources(found: list[Part]) -> list[dict]:
    """The answer's ``sources``: which span came from where."""
    docs = []
    for part in found:
        start, end = part.covered()
        doc = {"source": part.source, "start": timeutil.us_to_iso(start), "end": timeutil.us_to_iso(end)}
        if part.aligned:
            doc["aligned"] = part.aligned
        docs.append(doc)
    return docs


def _exact_sum(sums: list):
    """The exact sum of exact sums (``exactsum.add`` of them all, with one
    rounding check instead of one per item)."""
    if len(sums) == 1:
        return sums[0]
    exact = Fraction(0)
    for one in sums:
        if one is None:
            return None
        exact += Fraction(one)
    return exactsum.add(exact, 0.0)


def merge(out: Grid, items) -> list[tuple]:
    """(start, count, exact sum, min, max) items in time order, merged into
    output buckets: (bucket start, count, sum, min, max), empty ones absent.
    An item goes to the bucket holding its start."""
    merged: list[list] = []
    bucket_end = None
    for at, count, total, low, high in items:
        if not count:
            continue
        if bucket_end is None or not merged[-1][0] <= at < bucket_end:
            start = out.floor(at)
            bucket_end = out.next(start)
            if not merged or merged[-1][0] != start:
                merged.append([start, 0, [], low, high])
        current = merged[-1]
        current[1] += count
        current[2].append(total)
        if low < current[3]:
            current[3] = low
        if high > current[4]:
            current[4] = high
    return [(start, count, _exact_sum(sums), low, high) for start, count, sums, low, high in merged]


def total(items) -> tuple:
    """(count, exact sum, min, max) of all items; (0, 0.0, None, None) when none."""
    points = merge(Whole(), items)
    return points[0][1:] if points else (0, 0.0, None, None)



def renders(out: Grid, part: Part) -> bool:
    """Whether each tier bucket of ``part`` is an output bucket of its own
    (a series in the tier's own buckets, in UTC): its points can be
    rendered chunk by chunk and kept (``HistoryStore.rendered_points``)."""
    return (part.tier is not None and not part.aligned and type(out) is Grid and out.size_us == part.tier.us
            and out.follows(part.tier.us, part.start_us, part.end_us))


def spliced(merged: list, rendered: list, render) -> list:
    """The answer's points in time order: ``render(*item)`` of each merged
    item (``merge``), and each rendered part's points, given as (part, its
    points) in time order, in its place: such a part's output buckets are
    its own (``renders``), so no merged item falls in its span."""
    points, i = [], 0
    for part, part_points in rendered:
        while i < len(merged) and merged[i][0] < part.start_us:
            points.append(render(*merged[i]))
            i += 1
        points += part_points
    points += [render(*item) for item in merged[i:]]
    return points
