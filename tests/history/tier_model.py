"""The history tiers written as plainly as possible: what every tier of a
sensor must hold, computed from its distinct readings since its last clear,
and the helpers the history tests share."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

from redis.cluster import RedisCluster

from service import create_app
from service.history.store import HistoryStore, Tier
from service.settings import Settings

HOUR_US = 3600 * 1_000_000
DAY_US = 24 * HOUR_US


def flush(redis_client) -> None:
    """An empty database, on a single Redis or a cluster."""
    if isinstance(redis_client, RedisCluster):
        redis_client.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        redis_client.flushall()


def app_before_history(settings: Settings):
    """An app of before history (no tiers): its ingest writes bucket hashes
    of readings without the ``rolled`` marker, and no tier."""
    app = create_app(dataclasses.replace(settings, rollups=()))
    app.config["TESTING"] = True
    return app


def timestamp(us: int, offset: timedelta = timedelta(0)) -> str:
    """The ISO text of an instant written in ``offset`` (``Z`` for UTC)."""
    moment = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).astimezone(timezone(offset))
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class TierModel:
    """Distinct readings per sensor (the first copy of an instant wins), as
    POST /data and DELETE /statistics/<id> leave them."""

    def __init__(self):
        self.readings: dict[str, dict[int, float | int]] = {}

    def post(self, batch: list[dict]) -> None:
        for item in batch:
            us = int((datetime.fromisoformat(item["timestamp"]) - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
            self.readings.setdefault(item["sensor"], {}).setdefault(us, item["value"])

    def delete(self, sensor: str) -> None:
        self.readings.pop(sensor, None)

    def buckets(self, sensor: str, tier: Tier, now: float) -> dict[int, tuple]:
        """bucket start (us) -> (count, exact sum, min, max, (first us,
        first), (last us, last)) of the buckets the tier still keeps."""
        grouped: dict[int, list[tuple[int, float | int]]] = {}
        for us, value in self.readings.get(sensor, {}).items():
            grouped.setdefault(us // tier.us * tier.us, []).append((us, value))
        expected = {}
        for start, readings in grouped.items():
            if start // 1_000_000 + tier.seconds + tier.keep <= now:
                continue  # older than the tier keeps: never written
            readings.sort()
            values = [float(value) for _, value in readings]
            expected[start] = (
                len(values),
                sum(map(Fraction, (value for _, value in readings)), Fraction(0)),
                min(values),
                max(values),
                (readings[0][0], float(readings[0][1])),
                (readings[-1][0], float(readings[-1][1])),
            )
        return expected


def stored(history: HistoryStore, sensor: str, tier: Tier, start_us: int, end_us: int) -> dict[int, tuple]:
    """The tier's buckets of the sensor in [start, end), shaped like ``TierModel.buckets``."""
    return {
        bucket.start_us: (
            bucket.count,
            Fraction(bucket.sum),
            bucket.min,
            bucket.max,
            (bucket.first_us, bucket.first),
            (bucket.last_us, bucket.last),
        )
        for bucket in history.read(sensor, tier, start_us, end_us)
    }
