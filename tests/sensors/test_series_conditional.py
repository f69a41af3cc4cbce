"""GET /v1/series answers conditional requests: the dashboard's sparklines
of a fixed window cost a 304 until a reading lands in it."""

from __future__ import annotations

GZIP = {"Accept-Encoding": "gzip"}


def test_sparkline_series_of_a_fixed_window_are_304_until_a_reading_lands_in_it(client):
    body = [{"sensor": f"s-{i:03d}", "timestamp": "2027-01-15T07:59:00Z", "value": 20 + i} for i in range(3)]
    assert client.post("/data", json=body).status_code == 200
    url = "/v1/series?sensors=s-001,s-002&bucket=15m&start=2027-01-15T02:00:00Z&end=2027-01-15T08:15:00Z"
    first = client.get(url, headers=GZIP)
    assert client.get(url, headers={**GZIP, "If-None-Match": first.headers["ETag"]}).status_code == 304
    client.post("/data", json=[{"sensor": "s-002", "timestamp": "2027-01-15T07:59:45Z", "value": 30}])
    assert client.get(url, headers={**GZIP, "If-None-Match": first.headers["ETag"]}).status_code == 200
