--include service/exactsum.lua
--include service/history/rollup.lua
-- Apply a batch's readings to the sensors named in KEYS, each atomically.
--
-- KEYS[i]  sensor:{<id>}  statistics hash of sensor i (all in one slot on a cluster)
-- ARGV[1]  TTL in seconds of a bucket hash after a new reading lands in it
-- ARGV[2]  '1' to answer the value stored for each duplicate (too hot or
--          not follows the value that won), else '0' (POST /data)
-- ARGV[3]  BUCKET_SECONDS in microseconds
-- ARGV[4]  now, seconds since the epoch (history buckets older than their
--          tier keeps are not written)
-- ARGV[5]  buckets per history chunk (keys.ROLLUP_CHUNK)
-- ARGV[6]  start of the deferred zone (us): a bucket hash ending after it
-- ARGV[7]  and starting before this (us) is rolled up whole by the
--          background worker once it ends (seal.lua), not reading by reading
-- ARGV[8]  number of history tiers, then seconds and keep (s) of each
-- then, for each sensor i in KEYS order:
--   latest instant (us), its ISO text, its value, number of buckets, and per bucket:
--   bucket number, number of readings, then offset (us into the bucket) and
--   value of each reading, in the order they were sent (the first copy wins).
--
-- A reading is new when HSETNX adds its offset to the bucket hash
-- sensor:{<id>}:r:<gen>:<bucket>; the bucket keys are built here from the
-- declared key, so they share its hash tag. Statistics move once per
-- sensor per call: the count, and the exact sum of the values (exactsum.lua,
-- included). A sum of one double, as written before exact sums, becomes an
-- exact one on the sensor's next new reading.
--
-- History (rollup.lua, included): a bucket hash marked rolled up (field
-- ROLLED_FIELD) has all its readings in the sensor's history tiers, so a new
-- reading landing in it goes into the tiers in this call (a duplicate never
-- does). An unmarked one around now (the deferred zone) waits: the worker
-- rolls it up whole once it has ended (seal.lua, which finds it through the
-- statistics field UNSEALED and sets its TTL; until then it has none, so
-- nothing waiting is lost). A new bucket hash outside the zone (a late or
-- early reading) is marked and rolled up at once; an unmarked old one was
-- written before history existed and waits for the backfill (backfill.lua).
-- Returns the number of new
-- readings of each sensor; with ARGV[2] = '1', per sensor {new readings, then
-- for each duplicate: its position among the sensor's readings of this call
-- (1-based, in ARGV order) and the value stored for its instant}.
local ttl = ARGV[1]
local winners = ARGV[2] == '1'
local raw_us = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local chunk_size = tonumber(ARGV[5])
local defer_from = tonumber(ARGV[6])
local defer_to = tonumber(ARGV[7])
local tiers, pos = rollup_tiers(8)
local history = #tiers > 0
local new_per_sensor = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local latest_us = ARGV[pos]
  local latest_iso = ARGV[pos + 1]
  local latest_value = ARGV[pos + 2]
  local buckets = tonumber(ARGV[pos + 3])
  pos = pos + 4
  local stats = redis.call('HMGET', key, {{SensorStats.GEN}}, {{SensorStats.COUNT}}, {{SensorStats.EXACT}},
    {{SensorStats.LAST_US}}, {{SensorStats.SUM}}, {{SensorStats.UNSEALED}})
  local unsealed = tonumber(stats[6])
  local waiting = nil
  local gen = stats[1] or '0'
  local prefix = key .. {{READINGS_SUFFIX}} .. gen .. {{SEPARATOR}}
  local new, added = 0, {}
  local deltas, order = nil, nil
  local stored = winners and {} or nil
  local sent = 0
  for _ = 1, buckets do
    local bucket_key = prefix .. ARGV[pos]
    local number = tonumber(ARGV[pos])
    local base = number * raw_us
    local readings = tonumber(ARGV[pos + 1])
    pos = pos + 2
    local before = new
    local roll, mark, deferred = false, false, false
    if history then
      roll = redis.call('HGET', bucket_key, {{ROLLED_FIELD}}) ~= false
      if not roll then
        deferred = base + raw_us > defer_from and base < defer_to
        if not deferred and redis.call('EXISTS', bucket_key) == 0 then
          roll, mark = true, true
        end
      end
    end
    for k = 1, readings do
      if redis.call('HSETNX', bucket_key, ARGV[pos], ARGV[pos + 1]) == 1 then
        new = new + 1
        local value = tonumber(ARGV[pos + 1])
        added[new] = value
        if roll then
          if not deltas then deltas, order = rollup_deltas(tiers) end
          rollup_gather(tiers, deltas, order, base + tonumber(ARGV[pos]), value)
        end
      elseif winners then
        stored[#stored + 1] = sent + k
        stored[#stored + 1] = redis.call('HGET', bucket_key, ARGV[pos])
      end
      pos = pos + 2
    end
    sent = sent + readings
    if new > before then
      if mark then
        redis.call('HSET', bucket_key, {{ROLLED_FIELD}}, '1')
      end
      if deferred then
        if (not unsealed or number < unsealed) and (not waiting or number < waiting) then waiting = number end
      else
        redis.call('EXPIRE', bucket_key, ttl)
      end
    end
  end
  if deltas then
    rollup_write(key .. {{ROLLUP_SUFFIX}}, gen, tiers, deltas, order, chunk_size, now)
  end
  if new > 0 then
    local count = string.format('%d', tonumber(stats[2] or '0') + new)
    local sum = exact_unpack(stats[3])
    -- A sum of one double from before exact sums is carried on, unless it
    -- overflowed (its readings are gone: it stays, and the average reads
    -- null until a clear).
    local legacy = not stats[3] and stats[5]
    if legacy then
      sum[1][1] = tonumber(stats[5])
    end
    local fields = {{{SensorStats.COUNT}}, count}
    if waiting then
      fields[3], fields[4] = {{SensorStats.UNSEALED}}, string.format('%d', waiting)
    end
    if not legacy or exact_finite(sum) then
      exact_add(sum, added, new)
      local n = #fields
      fields[n + 1], fields[n + 2] = {{SensorStats.EXACT}}, exact_pack(sum)
      if legacy then
        redis.call('HDEL', key, {{SensorStats.SUM}})
      end
    end
    if not stats[4] or tonumber(latest_us) > tonumber(stats[4]) then
      local n = #fields
      fields[n + 1], fields[n + 2] = {{SensorStats.LAST_US}}, latest_us
      fields[n + 3], fields[n + 4] = {{SensorStats.LAST_ISO}}, latest_iso
      fields[n + 5], fields[n + 6] = {{SensorStats.LAST_VALUE}}, latest_value
    end
    redis.call('HSET', key, unpack(fields))
  end
  if winners then
    table.insert(stored, 1, new)
    new_per_sensor[i] = stored
  else
    new_per_sensor[i] = new
  end
end
return new_per_sensor
