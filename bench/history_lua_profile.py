"""Profile of the ingest script's history work: where Redis time goes.

Prepares the ingest script calls (KEYS, ARGV) of bench/ingest.py's bodies
(parse_batch, ReadingStore's own call split; no HTTP), then runs them with
EVALSHA on a fresh embedded Redis per variant and reads the script's own
time from INFO commandstats (cmdstat_evalsha usec), per posted reading
(median and fastest of --repeat; the variants alternate):

  none          ROLLUPS=""
  deferred      ROLLUPS default, every bucket hash in the deferred zone
                (live traffic: readings wait for the worker's seal)
  hourly        ROLLUPS=1h:400d, an empty deferred zone: every new reading
                merges into its bucket in the call that accepts it
  both          the same with both tiers (the default ROLLUPS)
  gather-only   both, readings gathered into the deltas, nothing written
  no-codec      both, buckets read and written (HGET, HSET, EXPIREAT) but
                not decoded, merged or encoded (a constant record)

The variants are text edits of the rendered script made here; the service's
scripts are untouched. Then micro-costs of one decode, merge (one reading)
and encode of a real hourly and daily bucket, in a loop inside one EVAL.

    python bench/history_lua_profile.py
    python bench/history_lua_profile.py --shapes gateway400 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import generate  # noqa: E402
from service import keys  # noqa: E402
from service.app import build_stores  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.readings.validation import parse_batch  # noqa: E402
from service.redisdb.scripts import lua_source  # noqa: E402
from service.settings import Settings  # noqa: E402

SHAPES = {"gateway400": 400, "gateway50": 50}
TIERS = {"none": [0], "hourly": [1, 3600, 400 * 86400], "both": [2, 3600, 400 * 86400, 86400, 3650 * 86400]}
WRITE_CALL = re.compile(r"^\s*rollup_write\(key .*$", re.MULTILINE)
MERGE = ("local bucket = rollup_merge(packed and rollup_decode(packed, tier.us) or nil, deltas[t][number], "
         "number * tier.us)")
ENCODE = "rollup_encode(bucket, tier.us)"


def variant_source(name: str) -> str:
    source = lua_source("service.readings", "ingest.lua")
    if name == "gather-only":
        source, n = WRITE_CALL.subn("", source)
        assert n == 1, "rollup_write call not found"
    elif name == "no-codec":
        assert MERGE in source and ENCODE in source, "rollup_write changed: update the no-codec variant"
        source = source.replace(MERGE, "local bucket = nil").replace(ENCODE, "'0123456789012345678901234'")
    return source


# The deferred zone of ARGV[6..7]: all of time, or none of it.
EVERYTHING, NOTHING = (0, 2**62), (0, 0)
# (label, script variant, tier arguments, deferred zone)
VARIANTS = [
    ("none", "full", TIERS["none"], NOTHING),
    ("deferred", "full", TIERS["both"], EVERYTHING),
    ("hourly", "full", TIERS["hourly"], NOTHING),
    ("both", "full", TIERS["both"], NOTHING),
    ("gather-only", "gather-only", TIERS["both"], NOTHING),
    ("no-codec", "no-codec", TIERS["both"], NOTHING),
]


def prepared_calls(shape: str, minutes: int, sensors: int, settings: Settings, store) -> tuple[list, int]:
    """The ingest calls of the shape's bodies, without tier arguments
    (ARGV[8] = 0 tiers), and the number of posted readings."""
    bodies = generate(sensors, minutes, 500, 0.10, 0.05, 7, SHAPES[shape])
    calls, posted = [], 0
    now = time.time()
    for body in bodies:
        groups, count = parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=settings.bucket_seconds * 1_000_000)
        posted += count
        calls.extend(store._calls(groups, now))
    return calls, posted


def run_variant(client, sha: str, calls: list, tier_args: list, zone: tuple) -> float:
    """Microseconds of EVALSHA time over all calls (INFO commandstats)."""
    client.flushall()
    client.config_resetstat()
    for start in range(0, len(calls), 50):
        pipe = client.pipeline(transaction=False)
        for call_keys, args in calls[start : start + 50]:
            argv = [*args[:5], *zone, *tier_args, *args[8:]]
            pipe.evalsha(sha, len(call_keys), *call_keys, *argv)
        pipe.execute()
    return client.info("commandstats")["cmdstat_evalsha"]["usec"]


MICRO = """
local packed, bucket_us, loops, what = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local bucket = rollup_decode(packed, bucket_us)
local low = bucket.sum[1]
local t0 = redis.call('TIME')
for i = 1, loops do
  if what == 'decode' then
    rollup_decode(packed, bucket_us)
  elseif what == 'encode' then
    rollup_encode(bucket, bucket_us)
  elseif what == 'merge' then
    local delta = rollup_new_delta()
    rollup_delta_add(delta, bucket.l_at, 21.37)
    rollup_merge(rollup_decode(packed, bucket_us), delta, 0)
  elseif what == 'delta' then
    local delta = rollup_new_delta()
    rollup_delta_add(delta, bucket.l_at, 21.37)
  elseif what == 'decimal' then
    rollup_decimal(21.37)
  elseif what == 'version' then
    string.sub(redis.sha1hex('0123456789abcdef' .. 17 .. '=' .. packed), 1, 16)
  elseif what == 'exact_add' then
    local sum = { {low[1], low[2], low[3]}, {} }
    exact_add(sum, {21.37}, 1)
  elseif what == 'tables' then
    local sum = { {low[1], low[2], low[3]}, {} }
  end
end
local t1 = redis.call('TIME')
return (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2])
"""

MICRO_OPS = ("decode", "encode", "merge", "delta", "decimal", "exact_add", "tables", "version")


def micro(client, packed: bytes, bucket_us: int, loops: int = 100_000, repeat: int = 3) -> dict:
    """Microseconds per operation on a bucket (fastest of ``repeat``):
    decode, encode, merge of one reading (without its decode), building a
    one-reading delta, one rollup_decimal (done four times per encode), one
    exact_add into the bucket's sum (without copying it), the chunk's next version
    (one sha1hex, rollup_write)."""
    source = lua_source("service.readings", "ingest.lua").split("local ttl = ARGV[1]")[0] + MICRO
    sha = client.script_load(source)
    t = {what: min(client.evalsha(sha, 0, packed, bucket_us, loops, what) for _ in range(repeat)) / loops
         for what in MICRO_OPS}
    return {
        "decode_us": round(t["decode"], 3),
        "encode_us": round(t["encode"], 3),
        "merge_one_reading_us": round(t["merge"] - t["decode"] - t["delta"], 3),
        "of_which_exact_add_us": round(t["exact_add"] - t["tables"], 3),
        "one_rollup_decimal_us": round(t["decimal"], 3),
        "chunk_version_us": round(t["version"], 3),
        "delta_one_reading_us": round(t["delta"], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="gateway400,gateway50")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (median reported)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    server = EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-lua-profile-"), appendonly=False)
    url = server.start()
    try:
        settings = Settings.from_env({"REDIS_URL": url, "ROLLUPS": ""})
        built = build_stores(settings)
        client = redis.Redis.from_url(url)
        shas = {name: client.script_load(variant_source(name)) for name in ("full", "gather-only", "no-codec")}
        result = {"shapes": {}}
        for shape in args.shapes.split(","):
            calls, posted = prepared_calls(shape, args.minutes, args.sensors, settings, built.readings)
            rows = {label: [] for label, *_ in VARIANTS}
            for _ in range(args.repeat):
                for label, script, tier_args, zone in VARIANTS:
                    rows[label].append(run_variant(client, shas[script], calls, tier_args, zone) / posted)
            result["shapes"][shape] = {
                "calls": len(calls),
                "posted": posted,
                "evalsha_us_per_posted_reading": {label: round(statistics.median(v), 3) for label, v in rows.items()},
                "fastest": {label: round(min(v), 3) for label, v in rows.items()},
                "all": {label: [round(x, 3) for x in v] for label, v in rows.items()},
            }
            print(json.dumps({shape: result["shapes"][shape]["fastest"]}), file=sys.stderr)
        # Real buckets for the micro-costs: the last shape with the default tiers.
        run_variant(client, shas["full"], calls, TIERS["both"], NOTHING)
        hourly = next(client.scan_iter(match=f"sensor:{{*}}{keys.ROLLUP_SUFFIX}3600{keys.SEPARATOR}*"))
        daily = next(client.scan_iter(match=f"sensor:{{*}}{keys.ROLLUP_SUFFIX}86400{keys.SEPARATOR}*"))
        hourly_packed = next(iter(client.hgetall(hourly).values()))
        daily_packed = next(iter(client.hgetall(daily).values()))
        result["micro"] = {
            "hourly": {"record_bytes": len(hourly_packed), **micro(client, hourly_packed, 3600 * 1_000_000)},
            "daily": {"record_bytes": len(daily_packed), **micro(client, daily_packed, 86400 * 1_000_000)},
        }
    finally:
        server.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
