"""Where Redis time goes on POST /data, command by command, per posted reading.

Runs the Redis side of POST /data for bench/ingest.py's bodies, in process
and without HTTP: parse_batch, then the ReadingStore's two round trips
(``sensor_meta``: one script call; ``ingest``: the ingest script calls and
the fleet-wide ``ZADD``s), on a fresh embedded Redis (no AOF), with the
service's default settings (history on). Readings are dated in the last
minutes, as live traffic is, so the hourly seal defers them.

Reports per posted reading, from INFO commandstats and INFO cpu:
- each command's microseconds, those called from inside the scripts
  included (Redis counts them);
- the scripts' own Lua time: EVALSHA minus the commands they called;
- Redis' whole CPU (user + sys), and what no command accounts for (reading
  requests, writing replies, the event loop).

With --prototype it also runs, on the same calls, PACKED_STATE: a sketch of
the ingest script (not the service's) that keeps a sensor's statistics in
one packed string (one GET and one SET per sensor instead of an HMGET of six
fields and an HSET), with the same dedup (HSETNX per reading) and exact sum,
no history and no metadata read: the floor of a per-sensor design on
this Redis, to size what a storage change would buy.

    python bench/ingest_redis_profile.py
    python bench/ingest_redis_profile.py --shapes gateway400 --sensors 10000
    python bench/ingest_redis_profile.py --attribute   # the ingest script's time by part

With --attribute it also runs the ingest calls through the service's script
with one part taken out at a time (the history check of each bucket, the
exact sum, the statistics' read, their write, the dedup HSETNX): each
part's cost is what taking it out saved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import generate  # noqa: E402
from service.app import build_stores  # noqa: E402
from service.embedded_redis import EmbeddedRedis  # noqa: E402
from service.readings.validation import parse_batch  # noqa: E402
from service.redisdb.scripts import lua_source  # noqa: E402
from service.settings import Settings  # noqa: E402

SHAPES = {"gateway400": 400, "gateway50": 50}
SCRIPT_CALLS = ("evalsha", "eval")


def cpu_seconds(client) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def profile(client, store, bodies: list[bytes], settings: Settings) -> dict:
    client.flushall()
    client.config_resetstat()
    cpu_before = cpu_seconds(client)
    posted = 0
    for body in bodies:
        groups, count = parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=settings.bucket_seconds * 1_000_000)
        posted += count
        store.sensor_meta(groups)
        store.ingest(groups)
    cpu = (cpu_seconds(client) - cpu_before) * 1e6
    stats = client.info("commandstats")
    commands = {name.removeprefix("cmdstat_"): value for name, value in stats.items()}
    # INFO itself and CONFIG RESETSTAT are the bench's, not the service's.
    for own in ("info", "config"):
        commands.pop(own, None)
    scripts = sum(commands.get(name, {}).get("usec", 0) for name in SCRIPT_CALLS)
    outside = {"zadd"}  # queued beside the scripts in the same pipeline
    inside = sum(v["usec"] for name, v in commands.items() if name not in SCRIPT_CALLS and name not in outside)
    counted = scripts + sum(commands.get(name, {}).get("usec", 0) for name in outside)
    return {
        "posted": posted,
        "redis_cpu_us_per_reading": round(cpu / posted, 2),
        "per_reading_us": {
            name: {"us": round(v["usec"] / posted, 3), "calls_per_reading": round(v["calls"] / posted, 3)}
            for name, v in sorted(commands.items(), key=lambda item: -item[1]["usec"])
        },
        "scripts_lua_own_us": round((scripts - inside) / posted, 3),
        "not_in_any_command_us": round((cpu - counted) / posted, 3),
    }


PACKED_STATE = """
local pos = 9 + 2 * tonumber(ARGV[8])
local new_per_sensor = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local latest_us, latest_iso, latest_value = ARGV[pos], ARGV[pos + 1], ARGV[pos + 2]
  local buckets = tonumber(ARGV[pos + 3])
  pos = pos + 4
  local state_key = key .. ':state'
  local state = redis.call('GET', state_key)
  local count, last_us, sum = 0, 0, {{}, {}}
  if state then
    local exact_len
    count, last_us, exact_len = struct.unpack('<ddH', state)
    sum = exact_unpack(string.sub(state, 19, 18 + exact_len))
  end
  local prefix = key .. ':p:'
  local new, added = 0, {}
  for _ = 1, buckets do
    local bucket_key = prefix .. ARGV[pos]
    local readings = tonumber(ARGV[pos + 1])
    pos = pos + 2
    for _ = 1, readings do
      if redis.call('HSETNX', bucket_key, ARGV[pos], ARGV[pos + 1]) == 1 then
        new = new + 1
        added[new] = tonumber(ARGV[pos + 1])
      end
      pos = pos + 2
    end
  end
  if new > 0 then
    exact_add(sum, added, new)
    local packed = exact_pack(sum)
    local tail = ''
    if tonumber(latest_us) > last_us then last_us, tail = tonumber(latest_us), latest_iso .. ' ' .. latest_value end
    redis.call('SET', state_key, struct.pack('<ddH', count + new, last_us, #packed) .. packed .. tail)
  end
  new_per_sensor[i] = new
end
return new_per_sensor
"""


HSETNX_CALL = "redis.call('HSETNX', bucket_key, ARGV[pos], ARGV[pos + 1]) == 1"
STATE_CALLS = (("redis.call('GET', state_key)", "false"), ("redis.call('SET', state_key,", "(function() end)(state_key,"))


def prototype_variants() -> dict[str, str]:
    """PACKED_STATE, and the same without its Redis calls (text edits), to
    split its time between the calls and the Lua around them."""
    without_state = PACKED_STATE
    for call, stand_in in STATE_CALLS:
        without_state = without_state.replace(call, stand_in)
    return {
        "packed_state": PACKED_STATE,
        "without_hsetnx": PACKED_STATE.replace(HSETNX_CALL, "true"),
        "without_get_set": without_state,
        "lua_only": without_state.replace(HSETNX_CALL, "true"),
    }


def ingest_calls(store, bodies: list[bytes], settings: Settings) -> tuple[list, int]:
    """The ingest script calls (KEYS, ARGV) of ``bodies`` as POST /data makes
    them, and how many readings were posted."""
    calls, posted = [], 0
    for body in bodies:
        groups, count = parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=settings.bucket_seconds * 1_000_000)
        posted += count
        calls.extend(store._calls(groups, time.time()))
    return calls, posted


def run_calls(client, sha: str, calls: list, posted: int) -> float:
    """Redis CPU per posted reading of ``calls`` through the script ``sha``,
    on a flushed Redis, 50 calls a pipeline."""
    client.flushall()
    before = cpu_seconds(client)
    for start in range(0, len(calls), 50):
        pipe = client.pipeline(transaction=False)
        for call_keys, args in calls[start : start + 50]:
            pipe.evalsha(sha, len(call_keys), *call_keys, *args)
        pipe.execute()
    return (cpu_seconds(client) - before) * 1e6 / posted


def prototype(client, store, bodies: list[bytes], settings: Settings) -> dict:
    """Redis CPU per posted reading of the ingest calls run through
    PACKED_STATE and its variants, and of a script that only walks ARGV
    (what passing the arguments costs)."""
    exactsum = lua_source("service.readings", "ingest.lua").split("local ttl = ARGV[1]")[0]
    scripts = {name: exactsum + source for name, source in prototype_variants().items()}
    scripts["argv_only"] = "local n = 0 for i = 1, #ARGV do n = n + 1 end return n"
    calls, posted = ingest_calls(store, bodies, settings)
    return {name: round(run_calls(client, client.script_load(source), calls, posted), 2)
            for name, source in scripts.items()}


# The service's ingest script with one part taken out at a time (text edits
# of the rendered source), to split its time by part: what is left when a
# part is gone is what that part cost.
ATTRIBUTION_EDITS = {
    "history_check": [("local history = #tiers > 0", "local history = false")],
    "exact_sum": [("exact_add(sum, added, new)", ""), ("exact_pack(sum)", "'x'"),
                  ("exact_unpack(stats[3])", "{{}, {}}")],
    "statistics_read": [("redis.call('HMGET', key, 'gen', 'count', 'exact',\n    'last_us', 'sum', 'unsealed')",
                         "{false, false, false, false, false, false}")],
    "statistics_write": [("redis.call('HSET', key, unpack(fields))", "")],
    "dedup_hsetnx": [("redis.call('HSETNX', bucket_key, ARGV[pos], ARGV[pos + 1]) == 1", "true")],
}


def attribute(client, store, bodies: list[bytes], settings: Settings, rounds: int = 3) -> dict:
    """Redis CPU per posted reading of the service's ingest calls (the
    fleet-wide ZADDs and the metadata read left out), and of the same calls
    through the script without each part of ATTRIBUTION_EDITS: medians of
    ``rounds`` alternating runs on a flushed Redis."""
    source = lua_source("service.readings", "ingest.lua")
    # Edits apply to the script's own body, not to the files it includes.
    marker = "local ttl = ARGV[1]"
    included, body = source[: source.index(marker)], source[source.index(marker):]
    variants = {"whole": source}
    for part, edits in ATTRIBUTION_EDITS.items():
        edited = body
        for old, new in edits:
            if edited.count(old) != 1:
                raise RuntimeError(f"{part}: {old!r} is not once in ingest.lua any more; update the bench")
            edited = edited.replace(old, new)
        variants[f"without_{part}"] = included + edited
    calls, posted = ingest_calls(store, bodies, settings)
    shas = {name: client.script_load(text) for name, text in variants.items()}
    runs = {name: [] for name in variants}
    for _ in range(rounds):
        for name, sha in shas.items():
            runs[name].append(run_calls(client, sha, calls, posted))
    medians = {name: statistics.median(values) for name, values in runs.items()}
    result = {"ingest_calls_us": round(medians["whole"], 2)}
    for part in ATTRIBUTION_EDITS:
        result[f"{part}_us"] = round(medians["whole"] - medians[f"without_{part}"], 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="gateway400,gateway50")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--prototype", action="store_true", help="also run the packed-state sketch")
    parser.add_argument("--attribute", action="store_true",
                        help="also split the ingest script's time by part (ATTRIBUTION_EDITS)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    server = EmbeddedRedis(tempfile.mkdtemp(prefix="sensorhub-ingest-profile-"), appendonly=False)
    url = server.start()
    result = {}
    try:
        settings = Settings.from_env({"REDIS_URL": url})
        built = build_stores(settings)
        client = redis.Redis.from_url(url)
        first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=args.minutes)
        for shape in args.shapes.split(","):
            bodies = generate(args.sensors, args.minutes, 500, 0.10, 0.05, 7, SHAPES[shape], first=first)
            started = time.perf_counter()
            result[shape] = profile(client, built.readings, bodies, settings)
            result[shape]["seconds"] = round(time.perf_counter() - started, 1)
            if args.prototype:
                result[shape]["packed_state_prototype"] = prototype(client, built.readings, bodies, settings)
            if args.attribute:
                result[shape]["ingest_script_by_part"] = attribute(client, built.readings, bodies, settings)
            print(json.dumps({shape: result[shape]["redis_cpu_us_per_reading"]}), file=sys.stderr)
    finally:
        server.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
