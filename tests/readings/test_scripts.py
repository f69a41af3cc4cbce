"""The readings Lua scripts on a real redis-server."""

from __future__ import annotations

import struct
from fractions import Fraction

from service import keys
from service.stores import stores

BATCH = [{"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 2.5}]


def test_ingest_survives_script_flush(client, redis_client):
    redis_client.script_flush()
    assert client.post("/data", json=BATCH).get_json() == {"accepted": 1, "duplicates": 0}
    redis_client.script_flush()
    assert client.get("/statistics/s").get_json()["count"] == 1
    assert client.delete("/statistics/s").status_code == 204
    redis_client.script_flush()
    assert client.post("/data", json=BATCH * 3).get_json() == {"accepted": 1, "duplicates": 2}


def test_multi_call_batch_survives_script_flush(client, redis_client):
    redis_client.script_flush()
    batch = [{"sensor": f"s{i}", "timestamp": "2021-11-08T21:38:09Z", "value": i} for i in range(5000)]
    assert client.post("/data", json=batch).get_json() == {"accepted": 5000, "duplicates": 0}


def test_healthz_reloads_flushed_scripts(client, redis_client, app):
    redis_client.script_flush()
    assert client.get("/healthz").status_code == 204
    shas = [script.sha for script in stores(app).scripts]
    assert all(redis_client.script_exists(*shas))


def test_stored_layout_is_a_stats_hash_and_bucket_hashes(client, redis_client):
    client.post("/data", json=BATCH)
    stats = redis_client.hgetall(keys.sensor("s"))
    assert stats == {
        b"count": b"1",
        b"exact": struct.pack("<BBd", 1, 0, 2.5),  # one low partial, no high one: 2.5
        b"last_us": b"1636407489000000",
        b"last_iso": b"2021-11-08T21:38:09Z",
        b"last_value": b"2.5",
    }
    bucket = 1636407489 // 3600
    bucket_key = keys.sensor_bucket("s", 0, bucket)
    # "rolled" marks the bucket hash as rolled up into the history tiers (written
    # until the backfill of data older than history says it is done).
    assert redis_client.hgetall(bucket_key) == {str(1636407489 % 3600 * 1_000_000).encode(): b"2.5", b"rolled": b"1"}
    assert 48 * 3600 - 5 <= redis_client.ttl(bucket_key) <= 48 * 3600
    assert redis_client.object("encoding", bucket_key) in (b"ziplist", b"listpack")


def test_sum_keeps_full_double_precision(client):
    values = [0.1, 0.2, 0.3, 1e-9, 123456.789]
    batch = [{"sensor": "p", "timestamp": f"2021-11-08T21:38:0{i}Z", "value": v} for i, v in enumerate(values)]
    client.post("/data", json=batch)
    exact_mean = float(sum(map(Fraction, values), Fraction(0)) / len(values))
    assert client.get("/statistics/p").get_json()["avg"] == exact_mean


def test_ingest_with_winners_answers_the_value_stored_for_each_duplicate(app, client):
    """Too hot or not's mode of ingest.lua: per duplicate, its position among
    the sensor's readings (bucket by bucket) and the value that won."""
    store = stores(app).readings
    hour = 3600 * 1_000_000
    client.post("/data", json=[{"sensor": "w", "timestamp": "2021-11-08T21:00:00Z", "value": 1.5},
                               {"sensor": "w", "timestamp": "2021-11-08T22:00:00Z", "value": 2.5}])
    first = 1636405200 * 1_000_000 // hour
    groups = {
        "w": [1636412400000000, "2021-11-08T23:00:00Z", "9", {
            first: [0, "7", 60_000_000, "8", 60_000_000, "9"],  # 21:00 stored; 21:01 new, then its second copy
            first + 1: [0, "9"],  # 22:00 stored
        }],
        "v": [0, "1970-01-01T00:00:00Z", "3", {0: [0, "3"]}],
    }
    assert store.ingest_with_winners(groups) == (2, {"w": [(1, "1.5"), (3, "8"), (4, "2.5")]})
    # POST /data's mode answers counts only.
    assert store.ingest(groups) == 0
    assert client.get("/statistics/w").get_json()["count"] == 3
