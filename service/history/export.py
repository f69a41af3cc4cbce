"""A sensor's history as rows, for downloads of any length (CSV or NDJSON).

Rows come in time order per sensor: one per raw reading where the raw store
answers, one per history bucket beyond (``store.plan`` says which source
answers which part of the range). Every generator here reads Redis a few
hashes at a time and yields as it goes, so an export of a year of a
thousand sensors holds no more in memory than one of an hour of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

import orjson

from .. import exactsum, keys, timeutil, units
from .store import HistoryStore, Segment, Tier

# One CSV header for raw and bucket rows; a cell that does not apply is empty.
COLUMNS = ("sensor", "time", "source", "unit", "value", "count", "avg", "min", "max", "sum",
           "first_time", "first", "last_time", "last")
RAW = "raw"
# Round trips are batched: raw bucket hashes, tier chunks and sensors read at once.
RAW_HASHES_PER_READ = 8
CHUNKS_PER_READ = 8
SENSORS_PER_READ = 200
# Rows joined into one chunk of the response body (fewer, larger writes).
ROWS_PER_WRITE = 500
_ROLLED = keys.ROLLED_FIELD.encode()


class SensorFacts(NamedTuple):
    """What an export needs to know of a sensor before reading its history."""

    sensor: str
    known: bool  # registered or heard of
    org: str | None
    site: str | None
    kind: str | None
    own_unit: str | None  # units.own_unit: how GET /v1/series shows it
    gen: str  # clear generation of its readings and tiers
    last_us: int | None  # its latest reading of this generation (None: none)


def _text(value: bytes | None) -> str | None:
    return value.decode() if value else None


def sensor_facts(client, sensor_ids: list[str]) -> list[SensorFacts]:
    """Facts of each sensor, one round trip (single-key commands: any slot)."""
    pipe = client.pipeline(transaction=False)
    for sensor in sensor_ids:
        pipe.hgetall(keys.sensor_meta(sensor))
        pipe.hmget(keys.sensor(sensor), keys.SensorStats.GEN, keys.SensorStats.COUNT, keys.SensorStats.LAST_US)
        pipe.zscore(keys.SENSORS_SEEN, sensor)
    replies = pipe.execute()
    found = []
    for position, sensor in enumerate(sensor_ids):
        raw_meta, (gen, count, last_us), seen = replies[3 * position : 3 * position + 3]
        meta = {k.decode(): v.decode() for k, v in raw_meta.items()}
        found.append(SensorFacts(
            sensor=sensor,
            # As the registry describes a sensor: metadata, statistics or heard of.
            known=bool(meta) or count is not None or seen is not None,
            org=meta.get(keys.SensorMeta.ORG) or None,
            site=meta.get(keys.SensorMeta.SITE) or None,
            kind=meta.get(keys.SensorMeta.KIND) or None,
            own_unit=units.own_unit(meta),
            gen=_text(gen) or "0",
            last_us=int(last_us) if last_us else None,
        ))
    return found


def facts_in_batches(client, sensor_ids: Iterable[str]) -> Iterator[SensorFacts]:
    """``sensor_facts`` of many sensors, SENSORS_PER_READ at a time."""
    batch: list[str] = []
    for sensor in sensor_ids:
        batch.append(sensor)
        if len(batch) == SENSORS_PER_READ:
            yield from sensor_facts(client, batch)
            batch = []
    if batch:
        yield from sensor_facts(client, batch)


# -- rows -----------------------------------------------------------------


class Shown:
    """Values as an answer shows them: canonical, or converted to ``unit``."""

    def __init__(self, unit: str | None):
        self.unit = unit
        kind = units.KIND_OF_UNIT.get(unit) if unit else None
        self.converts = kind is not None and units.KINDS[kind].canonical != unit

    def value(self, value: float | None) -> float | None:
        return units.shown(value, self.unit)

    def sum(self, exact, count: int) -> float | None:
        """A bucket's sum: exact (rounded once) in the canonical unit; in a
        converted unit, the converted mean times the count."""
        if exact is None:
            return None
        if self.converts:
            mean = self.value(exactsum.mean(exact, count))
            return None if mean is None else round(mean * count, units.SHOWN_DECIMALS)
        try:
            return float(exact)
        except OverflowError:
            return None


def raw_rows(history: HistoryStore, sensor: str, gen: str, start_us: int, end_us: int,
             shown: Shown) -> Iterator[dict]:
    """One row per raw reading in [start, end), in time order, read
    RAW_HASHES_PER_READ bucket hashes (BUCKET_SECONDS each) at a time."""
    bucket_us = history.raw_us
    first, last = start_us // bucket_us, (end_us - 1) // bucket_us
    for batch_first in range(first, last + 1, RAW_HASHES_PER_READ):
        buckets = range(batch_first, min(last, batch_first + RAW_HASHES_PER_READ - 1) + 1)
        pipe = history.client.pipeline(transaction=False)
        for bucket in buckets:
            pipe.hgetall(keys.sensor_bucket(sensor, gen, bucket))
        for bucket, fields in zip(buckets, pipe.execute(), strict=True):
            base = bucket * bucket_us
            # ROLLED_FIELD marks a bucket hash as rolled up; it is not a reading.
            readings = sorted((base + int(field), value) for field, value in fields.items() if field != _ROLLED)
            for at, value in readings:
                if start_us <= at < end_us:
                    yield {"sensor": sensor, "time": timeutil.us_to_iso(at), "source": RAW, "unit": shown.unit,
                           "value": shown.value(float(value))}


def tier_rows(history: HistoryStore, sensor: str, gen: str, segment: Segment, shown: Shown) -> Iterator[dict]:
    """One row per bucket of the segment's tier starting in [start, end), in
    time order, read CHUNKS_PER_READ chunks at a time."""
    tier: Tier = segment.tier
    step = CHUNKS_PER_READ * tier.chunk_us
    lower = segment.start_us
    while lower < segment.end_us:
        upper = min(segment.end_us, (lower // step + 1) * step)
        pipe = history.client.pipeline(transaction=False)
        history.queue_buckets(pipe, sensor, gen, tier, lower, upper)
        for bucket in history.buckets(tier, lower, upper, pipe.execute()):
            yield {
                "sensor": sensor, "time": timeutil.us_to_iso(bucket.start_us), "source": segment.source,
                "unit": shown.unit, "count": bucket.count,
                "avg": shown.value(exactsum.mean(bucket.sum, bucket.count)),
                "min": shown.value(bucket.min), "max": shown.value(bucket.max),
                "sum": shown.sum(bucket.sum, bucket.count),
                "first_time": timeutil.us_to_iso(bucket.first_us), "first": shown.value(bucket.first),
                "last_time": timeutil.us_to_iso(bucket.last_us), "last": shown.value(bucket.last),
            }
        lower = upper


def sensor_rows(history: HistoryStore, facts: SensorFacts, segments: list[Segment], unit: str | None) -> Iterator[dict]:
    """Every row of one sensor over the planned segments, oldest first.

    Nothing is read after the sensor's latest reading: a range ending in
    2100 reads no more than one ending now."""
    if facts.last_us is None:
        return
    shown = Shown(unit)
    for segment in segments:
        segment = segment._replace(end_us=min(segment.end_us, facts.last_us + 1))
        if segment.start_us >= segment.end_us:
            continue
        if segment.source == RAW:
            yield from raw_rows(history, facts.sensor, facts.gen, segment.start_us, segment.end_us, shown)
        else:
            yield from tier_rows(history, facts.sensor, facts.gen, segment, shown)


# -- formats --------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return ""
    return repr(value) if type(value) is float else str(value)


def csv_body(rows: Iterable[dict]) -> Iterator[bytes]:
    """A header line, then one line per row (COLUMNS; empty cells where a
    column does not apply), ROWS_PER_WRITE lines per chunk. No cell needs
    quoting: sensor ids, units, instants and numbers hold no comma, quote
    or line break."""
    lines = [",".join(COLUMNS)]
    for row in rows:
        lines.append(",".join([_cell(row.get(column)) for column in COLUMNS]))
        if len(lines) >= ROWS_PER_WRITE:
            lines.append("")
            yield "\r\n".join(lines).encode()
            lines = []
    lines.append("")
    yield "\r\n".join(lines).encode()


def ndjson_body(rows: Iterable[dict]) -> Iterator[bytes]:
    """One JSON object per line (only the fields that apply to the row),
    ROWS_PER_WRITE lines per chunk."""
    lines: list[bytes] = []
    for row in rows:
        lines.append(orjson.dumps(row))
        if len(lines) >= ROWS_PER_WRITE:
            lines.append(b"")
            yield b"\n".join(lines)
            lines = []
    if lines:
        lines.append(b"")
        yield b"\n".join(lines)


FORMATS = {
    "csv": ("text/csv; charset=utf-8", csv_body),
    "ndjson": ("application/x-ndjson", ndjson_body),
}
