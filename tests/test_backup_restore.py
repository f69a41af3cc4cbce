"""A backup restores: an RDB snapshot (BGSAVE) of sensorhub's Redis, put into
a fresh redis-server's data directory, brings back every reading, as the
API answers it (docs/operations.md, "Backups")."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from service import create_app
from service.embedded_redis import EmbeddedRedis
from service.settings import Settings
from service.stores import stores

pytestmark = pytest.mark.slow

SENSORS = [f"backup-{n}" for n in range(20)]


def _statistics_of_every_sensor(url: str) -> dict:
    app = create_app(Settings(redis_url=url, log_requests=False, log_level="CRITICAL"))
    try:
        client = app.test_client()
        return {sensor: client.get(f"/statistics/{sensor}").get_json() for sensor in SENSORS}
    finally:
        stores(app).client.close()


def _snapshot(url: str) -> None:
    """BGSAVE, then wait until Redis reports it done (as the documented commands do)."""
    client = redis.Redis.from_url(url)
    client.bgsave()  # forks before it answers: in progress from here until done
    while (persistence := client.info("persistence"))["rdb_bgsave_in_progress"]:
        time.sleep(0.05)
    assert persistence["rdb_last_bgsave_status"] == "ok" and persistence["rdb_changes_since_last_save"] == 0
    client.close()


def test_a_snapshot_restored_into_a_fresh_redis_holds_every_reading(tmp_path):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    batch = [
        {"sensor": sensor, "timestamp": (start + timedelta(minutes=m)).isoformat(), "value": n * 100 + m + 0.25}
        for n, sensor in enumerate(SENSORS) for m in range(30)
    ]
    with EmbeddedRedis(tmp_path / "live", unix_socket=False) as live:
        app = create_app(Settings(redis_url=live.url, log_requests=False, log_level="CRITICAL"))
        assert app.test_client().post("/data", json=batch).get_json() == {"accepted": len(batch), "duplicates": 0}
        stores(app).client.close()
        before = _statistics_of_every_sensor(live.url)
        _snapshot(live.url)
        (tmp_path / "restored").mkdir()
        shutil.copy(tmp_path / "live" / "dump.rdb", tmp_path / "restored" / "dump.rdb")

    # A fresh server on another directory, the AOF off: it loads dump.rdb.
    with EmbeddedRedis(tmp_path / "restored", unix_socket=False, appendonly=False) as restored:
        after = _statistics_of_every_sensor(restored.url)
    assert after == before
    assert all(stats["count"] == 30 for stats in after.values())
