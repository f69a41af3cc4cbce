"""FUTURE_TOLERANCE holds for an energy site's live entries as for readings:
one dated past the server's clock plus the tolerance is refused by row,
nothing of the post written (it would stay the site's latest entry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service import keys
from tests.sites.test_site_live_retention import entry


def test_a_live_entry_past_the_future_tolerance_is_refused_by_row(client, redis_client):
    assert client.post("/v1/sites", json={"id": "fut-site", "name": "F", "location": "n"}).status_code == 201
    now = datetime.now(UTC)
    response = client.post("/v1/sites/fut-site/live", json=[entry(now - timedelta(minutes=1)),
                                                             entry(datetime(2099, 12, 31, tzinfo=UTC))])
    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["1"]
    assert "FUTURE_TOLERANCE" in response.json["errors"]["json"]["1"]["dt-stamp"][0]
    assert redis_client.exists(keys.site_live("fut-site")) == 0
    # Column form alike; an entry just within the tolerance is taken.
    columns = {name: [value] for name, value in entry(now + timedelta(minutes=9)).items()}
    assert client.post("/v1/sites/fut-site/live", json=columns).json["accepted"] == 1
    late = {name: [value] for name, value in entry(now + timedelta(minutes=30)).items()}
    refused = client.post("/v1/sites/fut-site/live", json=late)
    assert refused.status_code == 422 and "FUTURE_TOLERANCE" in str(refused.json["errors"])
