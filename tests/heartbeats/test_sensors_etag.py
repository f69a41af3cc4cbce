"""GET /sensors answers conditional requests: a strong ETag of the page's
content (not server_time), and 304 without a body while it holds, whether
the answer is compressed or not."""

from __future__ import annotations

import gzip
import time

import orjson
import pytest

from service.stores import stores

NOW = 1_800_000_000.0
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def fleet(client):
    """Enough sensors for a page large enough to be compressed."""
    body = [{"sensor": f"s-{i:03d}", "timestamp": "2025-01-15T07:59:00Z", "value": 20 + i / 10} for i in range(60)]
    assert client.post("/data", json=body).status_code == 200


def test_an_unchanged_page_is_304_without_a_body_though_server_time_moves(client, fleet, monkeypatch):
    first = client.get("/sensors")
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag.startswith('"') and first.headers["Cache-Control"] == "private, no-cache"
    later = time.time() + 2
    monkeypatch.setattr(time, "time", lambda: later)
    again = client.get("/sensors", headers={"If-None-Match": tag})
    assert (again.status_code, again.data, again.headers["ETag"]) == (304, b"", tag)


def test_a_new_reading_changes_the_etag(client, fleet):
    tag = client.get("/sensors").headers["ETag"]
    client.post("/data", json=[{"sensor": "s-001", "timestamp": "2025-01-15T07:59:30Z", "value": 99}])
    changed = client.get("/sensors", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_a_status_turning_offline_with_time_changes_the_etag(app, client, monkeypatch):
    stores(app).heartbeats.heartbeat("02:00:00:00:00:01", now=NOW)
    monkeypatch.setattr(time, "time", lambda: NOW + 1)
    online = client.get("/sensors")
    assert online.get_json()["sensors"][0]["status"] == "online"
    monkeypatch.setattr(time, "time", lambda: NOW + stores(app).heartbeats.offline_after + 1)
    offline = client.get("/sensors", headers={"If-None-Match": online.headers["ETag"]})
    assert offline.status_code == 200 and offline.get_json()["sensors"][0]["status"] == "offline"
    assert offline.headers["ETag"] != online.headers["ETag"]


def test_a_compressed_page_answers_304_to_its_coding_etag(client, fleet):
    plain = client.get("/sensors")
    packed = client.get("/sensors", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["ETag"] == plain.headers["ETag"][:-1] + ':gzip"'
    body, plain_body = orjson.loads(gzip.decompress(packed.data)), plain.get_json()
    assert {**body, "server_time": None} == {**plain_body, "server_time": None}
    again = client.get("/sensors", headers={**GZIP, "If-None-Match": packed.headers["ETag"]})
    assert (again.status_code, again.data, again.headers["ETag"]) == (304, b"", packed.headers["ETag"])
    assert "Content-Encoding" not in again.headers

