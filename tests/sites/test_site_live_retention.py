"""LIVE_RETENTION_DAYS: old live entries are refused and trimmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service import create_app, keys
from service.stores import stores


@pytest.fixture
def retention_client(settings, clean_redis):
    app = create_app(settings.replace(live_retention_days=1))
    app.config["TESTING"] = True
    client = app.test_client()
    assert client.post("/v1/sites", json={"id": "willo", "name": "W", "location": "n"}).status_code == 201
    yield app, client
    stores(app).client.close()


def entry(moment: datetime) -> dict:
    return {
        "dt-stamp": moment.isoformat(),
        "soc": 1,
        "load_kwh": 1,
        "net_load_kwh": 1,
        "pv_notification": False,
        "bio_notification": False,
        "cro_notification": False,
    }


def test_entries_older_than_the_retention_are_refused_by_row(retention_client, redis_client):
    _, client = retention_client
    now = datetime.now(UTC)
    response = client.post("/v1/sites/willo/live", json=[entry(now - timedelta(hours=1)), entry(now - timedelta(days=2))])
    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["1"]
    assert "LIVE_RETENTION_DAYS" in response.json["errors"]["json"]["1"]["dt-stamp"][0]
    assert redis_client.exists(keys.site_live("willo")) == 0


def test_a_post_trims_entries_that_left_the_window(retention_client, redis_client):
    app, client = retention_client
    now = datetime.now(UTC)
    old, recent = now - timedelta(hours=20), now - timedelta(hours=1)
    assert client.post("/v1/sites/willo/live", json=[entry(old), entry(recent)]).json["accepted"] == 2
    store = stores(app).sites
    # Five hours later the first entry is more than a day old.
    later_cutoff = store.live_cutoff_us(now_us=int((now + timedelta(hours=5)).timestamp() * 1_000_000))
    newest = {
        "dt_stamp": (int(now.timestamp() * 1_000_000), now.isoformat()),
        "soc": 1.0,
        "load_kwh": 1.0,
        "net_load_kwh": 1.0,
        "pv_notification": False,
        "bio_notification": False,
        "cro_notification": False,
    }
    assert store.add_live("willo", [newest], later_cutoff) == 1
    remaining = [e["dt-stamp"] for e in client.get("/v1/sites/willo/live").json["entries"]]
    assert remaining == [recent.isoformat(), now.isoformat()]

