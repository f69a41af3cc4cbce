"""GET /v1/series answers conditional requests: the dashboard's sparklines
of a fixed window cost a 304 until a reading lands in it."""

from __future__ import annotations

from service import timeutil

GZIP = {"Accept-Encoding": "gzip"}
HOUR_US = 3_600_000_000
SECOND_US = 1_000_000


def test_sparkline_series_of_a_fixed_window_are_304_until_a_reading_lands_in_it(client):
    # A window of the recent past: readings may not lie in the future
    # (FUTURE_TOLERANCE), and series reach back RETENTION only.
    day = timeutil.now_us() // HOUR_US * HOUR_US - 9 * HOUR_US

    def at(seconds: int) -> str:
        return timeutil.us_to_iso(day + seconds * SECOND_US)

    body = [{"sensor": f"s-{i:03d}", "timestamp": at(7 * 3600 + 59 * 60), "value": 20 + i} for i in range(3)]
    assert client.post("/data", json=body).status_code == 200
    url = f"/v1/series?sensors=s-001,s-002&bucket=15m&start={at(2 * 3600)}&end={at(8 * 3600 + 15 * 60)}"
    first = client.get(url, headers=GZIP)
    assert client.get(url, headers={**GZIP, "If-None-Match": first.headers["ETag"]}).status_code == 304
    client.post("/data", json=[{"sensor": "s-002", "timestamp": at(7 * 3600 + 59 * 60 + 45), "value": 30}])
    assert client.get(url, headers={**GZIP, "If-None-Match": first.headers["ETag"]}).status_code == 200
