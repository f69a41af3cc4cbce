"""DELETE /statistics/<id> stays O(1) and leaves the cleared generation's
history tiers to the worker, which deletes them; readings after the clear
count afresh."""

from __future__ import annotations

import time

from service import keys
from service.stores import stores
from tests.history.tier_model import DAY_US, HOUR_US, TierModel, stored, timestamp

# Two hours behind the clock: the readings an hour past NOW are not in the
# future, which ingest refuses (FUTURE_TOLERANCE).
NOW = time.time() - 2 * 3600
NOW_HOUR_US = int(NOW) // 3600 * HOUR_US
# From the oldest bucket the hourly tier keeps, to the oldest the daily one
# keeps, to one hour ahead: readings in the first and last chunks the
# reclaim must reach.
SPREAD_US = [-399 * DAY_US, -30 * DAY_US, -HOUR_US, 0, HOUR_US, -3649 * DAY_US, -2000 * DAY_US]


def seal(history):
    """The worker's seal of the readings around now, as two hours from now."""
    history.seal_step(now=NOW + 2 * 3600)


def readings(sensor, value):
    return [{"sensor": sensor, "timestamp": timestamp(NOW_HOUR_US + at + 90_000_000), "value": value} for at in SPREAD_US]


def chunks_of(redis_client, sensor, gen):
    return sorted(redis_client.scan_iter(match=keys.sensor_rollup_chunk(sensor, "*", gen, "*"), count=1000))


def test_the_worker_reclaims_every_chunk_of_the_cleared_generation(app, client, redis_client):
    history = stores(app).history
    assert client.post("/data", json=readings("a", 1.5) + readings("b", 2.5)).status_code == 200
    seal(history)
    before = chunks_of(redis_client, "a", 0)
    assert len(before) >= 6
    assert client.delete("/statistics/a").status_code == 204
    assert chunks_of(redis_client, "a", 0) == before, "DELETE itself walks nothing"
    assert redis_client.smembers(keys.HISTORY_RECLAIM) == {b"a 0"}
    assert history.reclaim_step() is True
    assert chunks_of(redis_client, "a", 0) == []
    assert redis_client.scard(keys.HISTORY_RECLAIM) == 0
    assert len(chunks_of(redis_client, "b", 0)) == len(before), "other sensors keep theirs"
    assert history.reclaim_step() is False


def test_the_reclaimed_chunks_reach_from_the_oldest_kept_bucket_to_one_chunk_ahead(app):
    history = stores(app).history
    now = int(NOW)
    chunks = history.orphaned_chunks("a", 3, now)
    for tier in history.tiers:
        numbers = [int(key.rsplit(":", 1)[1]) for key in chunks if key.startswith(keys.sensor_rollup_chunk("a", tier.seconds, 3, ""))]
        oldest_kept = (now - tier.keep) // tier.seconds // keys.ROLLUP_CHUNK
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        assert numbers[0] <= oldest_kept
        assert numbers[-1] >= (now + tier.seconds * keys.ROLLUP_CHUNK) // (tier.seconds * keys.ROLLUP_CHUNK)


def test_readings_after_a_clear_count_afresh_and_survive_the_reclaim(app, client, redis_client):
    history = stores(app).history
    assert client.post("/data", json=readings("a", 1.5)).status_code == 200
    assert client.delete("/statistics/a").status_code == 204
    model = TierModel()
    again = readings("a", 7.25)[:3]  # the same instants, posted again: new readings now
    assert client.post("/data", json=again).get_json() == {"accepted": 3, "duplicates": 0}
    model.post(again)
    seal(history)
    history.reclaim_step()
    for tier in history.tiers:
        got = stored(history, "a", tier, NOW_HOUR_US - 3700 * DAY_US, NOW_HOUR_US + DAY_US)
        assert got == model.buckets("a", tier, NOW)
    assert client.get("/statistics/a").get_json()["count"] == 3


def test_a_second_clear_queues_the_next_generation(app, client, redis_client):
    assert client.post("/data", json=readings("a", 1.5)).status_code == 200
    seal(stores(app).history)
    client.delete("/statistics/a")
    assert client.post("/data", json=readings("a", 1.5)).status_code == 200
    client.delete("/statistics/a")
    assert redis_client.smembers(keys.HISTORY_RECLAIM) == {b"a 0", b"a 1"}
    assert stores(app).history.reclaim_step() is True
    assert chunks_of(redis_client, "a", 0) == chunks_of(redis_client, "a", 1) == []
