"""POST /data tells which readings no time query will ever show: older than
RETENTION and than the longest history tier keeps. They still count in the
sensor's statistics; the answer says so instead of a plain "accepted"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.history.store import Tier, oldest_reachable, plan


def _reading(sensor: str, days_ago: float, value: float = 1.0) -> dict:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    return {"sensor": sensor, "timestamp": at.isoformat(), "value": value}


@pytest.mark.parametrize(("rollups", "days_ago", "expired"), [
    ("1h:400d,1d:3650d", 3, 0),  # older than RETENTION (2 d), in the hourly tier
    ("1h:400d,1d:3650d", 3700, 1),  # older than the daily tier keeps
    ("", 3, 1),  # no history: older than RETENTION is beyond every query
], ids=["history-keeps-it", "beyond-every-tier", "no-history"])
def test_readings_no_query_reaches_are_counted_as_expired(make_app, rollups, days_ago, expired):
    from service.settings import parse_rollups

    client = make_app(rollups=parse_rollups(rollups)).test_client()
    batch = [_reading("exp-1", days_ago), _reading("exp-1", 0.5), _reading("exp-2", 0.1)]
    body = client.post("/data", json=batch).get_json()
    assert body["accepted"] == 3 and body["duplicates"] == 0
    assert body.get("expired", 0) == expired
    # Present only when there are some: the usual answer is unchanged.
    assert ("expired" in body) == bool(expired)
    assert client.get("/statistics/exp-1").get_json()["count"] == 2


@pytest.mark.parametrize("tiers", [(), (Tier(3600, 400 * 86400), Tier(86400, 3650 * 86400))])
def test_the_expiry_horizon_is_where_queries_stop_reaching(tiers):
    now_us, retention = 1_700_000_123_456_789, 2 * 86400
    oldest = oldest_reachable(tiers, now_us, retention)
    assert plan(tiers, oldest, now_us, now_us, retention)
    with pytest.raises(ValueError):
        plan(tiers, oldest - 1, now_us, now_us, retention)
