"""A real ``python -m service.worker`` backfills the history of readings
written before it existed and reclaims a cleared sensor's tiers."""

from __future__ import annotations

from service import keys
from service.stores import stores
from tests.history.test_backfill import batch, expected, post, whole_range
from tests.history.tier_model import TierModel, app_before_history
from tests.worker.test_worker_processes import start_worker, stop, wait_for


def test_the_worker_backfills_and_reclaims_history(app, client, settings, redis_client, redis_url, redis_cluster_mode):
    history = stores(app).history
    model = TierModel()
    before = app_before_history(settings)
    post(before.test_client(), model, batch(range(5), sensors=["a", "b.c"]))
    post(client, None, batch(range(5), sensors=["gone"]))
    assert client.delete("/statistics/gone").status_code == 204
    worker = start_worker(redis_url, redis_cluster_mode)
    try:
        wait_for(lambda: redis_client.exists(keys.HISTORY_BACKFILLED), 20, "the history backfill")
        wait_for(lambda: redis_client.scard(keys.HISTORY_RECLAIM) == 0, 20, "the history reclaim")
    finally:
        stop(worker)
        stores(before).client.close()
    for sensor in ("a", "b.c"):
        assert whole_range(history, sensor) == expected(model, history, sensor)
    assert list(redis_client.scan_iter(match=keys.sensor_rollup_chunk("gone", "*", 0, "*"))) == []
