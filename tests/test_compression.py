"""Compressed answers: large JSON, CSV and NDJSON answers are compressed when
the client accepts it, small ones never; streamed exports are compressed as
they stream; static files keep their 304s."""

from __future__ import annotations

import gzip
import zlib

import pytest

from service import timeutil
from service.settings import Settings, SettingsError

MINUTE = 60_000_000
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def minutes(client):
    """Sensor s1 with a reading a minute for the last three hours."""
    now = timeutil.now_us()
    start = now - now % MINUTE - 180 * MINUTE
    body = [{"sensor": "s1", "timestamp": timeutil.us_to_iso(start + i * MINUTE), "value": 20 + i / 7} for i in range(180)]
    assert client.post("/data", json=body).status_code == 200
    return start, start + 180 * MINUTE


def series_url(start: int, end: int) -> str:
    return f"/v1/sensors/s1/series?start={timeutil.us_to_iso(start)}&end={timeutil.us_to_iso(end)}&bucket=1m"


def test_a_large_series_is_gzipped_when_the_client_accepts_gzip(client, minutes):
    plain = client.get(series_url(*minutes))
    packed = client.get(series_url(*minutes), headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) < len(plain.data) / 4
    assert gzip.decompress(packed.data) == plain.data


def test_a_client_that_accepts_no_coding_gets_identity(client, minutes):
    for headers in ({}, {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0, identity"}):
        response = client.get(series_url(*minutes), headers=headers)
        assert "Content-Encoding" not in response.headers, headers
        assert response.get_json()["points"]
        assert "Accept-Encoding" in response.headers["Vary"]


def test_an_answer_below_the_minimum_size_stays_identity(client, minutes):
    small = client.get("/statistics/s1", headers=GZIP)
    assert len(small.data) < Settings().compress_min_bytes
    assert "Content-Encoding" not in small.headers
    assert small.headers["Vary"] == "Accept-Encoding"


def test_an_empty_answer_stays_empty(client):
    response = client.options("/data", headers=GZIP)
    assert response.status_code == 200 and "POST" in response.headers["Allow"]
    assert "Content-Encoding" not in response.headers and response.data == b""


def test_the_preferred_coding_the_client_accepts_is_chosen(client, minutes):
    both = client.get(series_url(*minutes), headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert both.headers["Content-Encoding"] == "zstd"  # first of COMPRESS_ALGORITHMS
    weighted = client.get(series_url(*minutes), headers={"Accept-Encoding": "zstd;q=0.5, gzip"})
    assert weighted.headers["Content-Encoding"] == "gzip"


def test_a_streamed_export_is_compressed_as_it_streams_and_decompresses_to_the_same_bytes(client, minutes):
    url = f"/v1/sensors/s1/export?start={minutes[0] // 1_000_000}&format=csv"
    plain = client.get(url)
    packed = client.get(url, headers=GZIP, buffered=False)
    assert packed.is_streamed and "Content-Length" not in packed.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Content-Disposition"].startswith("attachment;")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    unpacked = b"".join(inflater.decompress(chunk) for chunk in packed.response) + inflater.flush()
    assert inflater.eof
    assert unpacked == plain.data and plain.data.count(b"\n") == 181


def test_a_static_file_is_compressed_and_still_answers_304_to_its_etag(client):
    url = "/dashboard/static/dashboard.js"
    first = client.get(url, headers=GZIP)
    assert first.headers["Content-Encoding"] == "gzip"
    again = client.get(url, headers={**GZIP, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # The identity file is another representation: another ETag.
    plain = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers


def test_compress_responses_0_turns_compression_off(make_app, minutes):
    response = make_app(compress_responses=False).test_client().get(series_url(*minutes), headers=GZIP)
    assert "Content-Encoding" not in response.headers and response.get_json()["points"]


def test_compress_min_bytes_sets_the_threshold(make_app, minutes):
    response = make_app(compress_min_bytes=10).test_client().get("/statistics/s1", headers=GZIP)
    assert response.headers["Content-Encoding"] == "gzip"


def test_compress_algorithms_names_only_known_codings():
    assert Settings.from_env({"COMPRESS_ALGORITHMS": "gzip, br"}).compress_codings == ("gzip", "br")
    for wrong in ("lzma", "gzip,,compress", ","):
        with pytest.raises(SettingsError, match="COMPRESS_ALGORITHMS"):
            Settings.from_env({"COMPRESS_ALGORITHMS": wrong})
