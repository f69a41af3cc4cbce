"""Series in a tier's own buckets answered from rendered copies of whole
chunks kept in the web process: byte for byte the answer rendered afresh,
never stale once a chunk changed (whichever replica changed it, even a
chunk deleted and written again), and bounded in memory."""

from __future__ import annotations

import orjson
import pytest

from service import keys
from service.history.rendered import SHARED_SECONDS, RenderedChunk, RenderedChunks, kept_bytes

from .test_query import DAY_US, HOUR_US, hour, iso, post, spread


def answer(client, sensor: str, start: int, end: int, **params) -> bytes:
    response = client.get(f"/v1/sensors/{sensor}/series", query_string={"start": iso(start), "end": iso(end), **params})
    assert response.status_code == 200, response.get_json()
    return response.data


RANGES = [
    # (start, end) relative to the whole hour 40 days ago, in hours: whole
    # chunks, chunks cut at both ends, the seam with the raw readings.
    (0, 24 * 30),
    (7, 24 * 12 + 5),
    (121, 122),
    (24 * 30, 24 * 40),
]


@pytest.mark.parametrize("params", [{"bucket": "1h"}, {"bucket": "1h", "unit": "F"}, {"bucket": "1d"}])
def test_a_series_from_kept_copies_is_the_answer_rendered_afresh(make_app, params):
    kept, afresh = make_app().test_client(), make_app(series_cache_mb=0).test_client()
    origin = hour(24 * 40)
    kept.put("/v1/sensors/t1", json={"kind": "temperature", "unit": "C"})
    post(kept, "t1", spread(origin, hour(0), 1200, first_value=18.25))
    for first, last in RANGES:
        start, end = origin + first * HOUR_US, origin + last * HOUR_US
        expected = answer(afresh, "t1", start, end, **params)
        assert answer(kept, "t1", start, end, **params) == expected  # rendered and kept
        assert answer(kept, "t1", start, end, **params) == expected  # from the kept copies


def test_a_late_reading_shows_in_the_next_series_whichever_replica_took_it(make_app):
    reader, writer = make_app().test_client(), make_app().test_client()
    origin = hour(24 * 20)
    post(writer, "s", spread(origin, origin + 10 * DAY_US, 3600, first_value=10.0))
    before = reader.get("/v1/sensors/s/series", query_string={"start": iso(origin), "end": iso(origin + 10 * DAY_US),
                                                               "bucket": "1h"}).get_json()
    late = origin + 5 * DAY_US + 60 * 1_000_000
    post(writer, "s", [(late, 99.5)])
    after = reader.get("/v1/sensors/s/series", query_string={"start": iso(origin), "end": iso(origin + 10 * DAY_US),
                                                              "bucket": "1h"}).get_json()
    changed = [(old, new) for old, new in zip(before["points"], after["points"], strict=True) if old != new]
    assert changed == [(
        {"t": iso(origin + 5 * DAY_US), "count": 1, "avg": changed[0][0]["avg"], "min": changed[0][0]["min"],
         "max": changed[0][0]["max"]},
        {"t": iso(origin + 5 * DAY_US), "count": 2, "avg": (changed[0][0]["avg"] + 99.5) / 2,
         "min": changed[0][0]["min"], "max": 99.5},
    )]


def test_a_chunk_rendered_by_one_process_is_not_rendered_again_by_another(make_app, redis_client, redis_cluster_mode):
    if redis_cluster_mode:
        pytest.skip("command statistics are per node")
    first, second = make_app().test_client(), make_app().test_client()
    origin = hour(24 * 30)
    post(first, "s", spread(origin, origin + 20 * DAY_US, 1800, first_value=3.0))
    expected = answer(first, "s", origin, origin + 20 * DAY_US, bucket="1h")
    shared = keys.sensor_rendered_chunk("s", 3600, 0, origin // (HOUR_US * keys.ROLLUP_CHUNK), None)
    assert 0 < redis_client.ttl(shared) <= SHARED_SECONDS
    redis_client.config_resetstat()
    assert answer(second, "s", origin, origin + 20 * DAY_US, bucket="1h") == expected
    assert "cmdstat_hgetall" not in redis_client.info("commandstats")


def test_a_shared_copy_of_a_chunk_that_changed_since_is_not_used(make_app):
    first, writer = make_app().test_client(), make_app().test_client()
    origin = hour(24 * 30)
    end = origin + 10 * DAY_US
    post(writer, "s", spread(origin, end, 3600, first_value=3.0))
    answer(first, "s", origin, end, bucket="1h")  # rendered and shared
    post(writer, "s", [(origin + 2 * DAY_US + 1, 50.0)])
    fresh = make_app(series_cache_mb=0).test_client()
    assert answer(make_app().test_client(), "s", origin, end, bucket="1h") == answer(fresh, "s", origin, end, bucket="1h")


def test_a_chunk_deleted_and_written_again_differently_is_never_answered_from_the_old_copy(make_app, redis_client):
    client = make_app().test_client()
    origin = hour(24 * 20)
    end = origin + 5 * DAY_US
    post(client, "s", spread(origin, end, 3600, first_value=1.0))
    first = client.get("/v1/sensors/s/series", query_string={"start": iso(origin), "end": iso(end), "bucket": "1h"})
    redis_client.flushdb()  # a restore, or a test: the same keys, generation 0 again
    post(client, "s", spread(origin, end, 3600, first_value=2.0))
    second = client.get("/v1/sensors/s/series", query_string={"start": iso(origin), "end": iso(end), "bucket": "1h"})
    values = [point["min"] for point in second.get_json()["points"]]
    assert values == [point["min"] + 1.0 for point in first.get_json()["points"]]


def test_a_chunks_version_follows_what_was_written_to_it(make_app, redis_client):
    client = make_app(series_cache_mb=0).test_client()
    origin = hour(24 * 20)
    readings = spread(origin, origin + 3 * DAY_US, 3600, first_value=5.0)
    post(client, "a", readings)
    post(client, "b", readings)
    post(client, "c", [(at, value + 0.5) for at, value in readings])
    chunk = origin // (HOUR_US * keys.ROLLUP_CHUNK)

    def version(sensor: str) -> bytes:
        return redis_client.hget(keys.sensor_rollup_chunk(sensor, 3600, 0, chunk), keys.ROLLUP_VERSION_FIELD)

    assert version("a") == version("b")  # the same writes: the same contents
    assert version("a") != version("c")
    before = version("a")
    post(client, "a", [readings[3]])  # a duplicate changes nothing
    assert version("a") == before
    post(client, "a", [(readings[3][0] + 1, 7.0)])
    assert version("a") != before


def kept(points: int, version: bytes = b"v1") -> RenderedChunk:
    return RenderedChunk.of(version, [(at, b'{"t":"x","count":1}') for at in range(points)])


def test_kept_copies_stay_within_their_bytes_and_the_least_recently_used_goes_first():
    one = kept(100)
    cache = RenderedChunks(max_bytes=3 * kept_bytes(one) + 1)
    for chunk in range(10):
        cache.put(("s", 3600, "0", chunk, "C"), one)
    held = [chunk for chunk in range(10) if cache.get(("s", 3600, "0", chunk, "C"), b"v1")]
    assert held == [7, 8, 9]
    assert cache.get(("s", 3600, "0", 9, "C"), b"v2") is None  # another version: not this copy
    cache.get(("s", 3600, "0", 7, "C"), b"v1")
    cache.put(("s", 3600, "0", 10, "C"), one)
    assert cache.get(("s", 3600, "0", 7, "C"), b"v1") is not None
    assert cache.get(("s", 3600, "0", 8, "C"), b"v1") is None


def test_no_copies_are_kept_with_no_memory_for_them_or_for_a_chunk_with_no_version():
    cache = RenderedChunks(max_bytes=0)
    cache.put(("s", 3600, "0", 1, None), kept(3))
    assert cache.get(("s", 3600, "0", 1, None), b"v1") is None
    cache = RenderedChunks(max_bytes=10**6)
    cache.put(("s", 3600, "0", 1, None), kept(3, version=b""))
    assert cache.get(("s", 3600, "0", 1, None), b"") is None


def test_a_copy_reads_back_from_its_shared_form():
    chunk = RenderedChunk.of(b"0123456789abcdef", [(10, b'{"a":1}'), (20, b"2"), (30, b'"x,y"')])
    assert RenderedChunk.unpacked(chunk.packed()) == chunk
    empty = RenderedChunk.of(b"0123456789abcdef", [])
    assert RenderedChunk.unpacked(empty.packed()) == empty


def test_a_copy_is_cut_to_the_buckets_asked():
    chunk = RenderedChunk.of(b"v", [(10, b'{"a":1}'), (20, b"2"), (30, b'"x,y"')])
    assert orjson.dumps(chunk.between(0, 100)) == b'[{"a":1},2,"x,y"]'
    assert orjson.dumps(chunk.between(10, 31)) == b'[{"a":1},2,"x,y"]'
    assert orjson.dumps(chunk.between(15, 30)) == b"[2]"
    assert orjson.dumps(chunk.between(11, 100)) == b'[2,"x,y"]'
    assert orjson.dumps(chunk.between(0, 20)) == b'[{"a":1}]'
    assert orjson.dumps(chunk.between(0, 10)) == b"[]"
    assert orjson.dumps(chunk.between(31, 40)) == b"[]"
    assert orjson.dumps(RenderedChunk.of(b"v", []).between(0, 100)) == b"[]"
