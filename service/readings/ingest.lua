-- Apply a batch's readings to the sensors named in KEYS, each atomically.
--
-- KEYS[i]  sensor:{<id>}  statistics hash of sensor i (all in one slot on a cluster)
-- ARGV[1]  TTL in seconds of a bucket hash after a new reading lands in it
-- then, for each sensor i in KEYS order:
--   latest instant (us), its ISO text, its value, number of buckets, and per bucket:
--   bucket number, number of readings, then offset (us into the bucket) and
--   value of each reading, in the order they were sent (the first copy wins).
--
-- A reading is new when HSETNX adds its offset to the bucket hash
-- sensor:{<id>}:r:<gen>:<bucket>; the bucket keys are built here from the
-- declared key, so they share its hash tag. Statistics move once per
-- sensor per call: `count`, and `exact`, the exact sum of the values
-- (exactsum.lua, prepended). A `sum` of one double, as written before exact
-- sums, becomes `exact` on the sensor's next new reading. Returns the number
-- of new readings of each sensor.
local ttl = ARGV[1]
local pos = 2
local new_per_sensor = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local latest_us = ARGV[pos]
  local latest_iso = ARGV[pos + 1]
  local latest_value = ARGV[pos + 2]
  local buckets = tonumber(ARGV[pos + 3])
  pos = pos + 4
  local stats = redis.call('HMGET', key, 'gen', 'count', 'exact', 'last_us', 'sum')
  local prefix = key .. ':r:' .. (stats[1] or '0') .. ':'
  local new, added = 0, {}
  for _ = 1, buckets do
    local bucket_key = prefix .. ARGV[pos]
    local readings = tonumber(ARGV[pos + 1])
    pos = pos + 2
    local before = new
    for _ = 1, readings do
      if redis.call('HSETNX', bucket_key, ARGV[pos], ARGV[pos + 1]) == 1 then
        new = new + 1
        added[new] = tonumber(ARGV[pos + 1])
      end
      pos = pos + 2
    end
    if new > before then
      redis.call('EXPIRE', bucket_key, ttl)
    end
  end
  if new > 0 then
    local count = string.format('%d', tonumber(stats[2] or '0') + new)
    local sum = exact_unpack(stats[3])
    local exact = nil
    if stats[3] or not stats[5] then
      exact_add(sum, added, new)
      exact = exact_pack(sum)
    else
      -- A sum from before exact sums: migrated, unless it overflowed (its
      -- readings are gone: it stays, and the average reads null until a clear).
      sum[1][1] = tonumber(stats[5])
      if exact_finite(sum) then
        exact_add(sum, added, new)
        exact = exact_pack(sum)
        redis.call('HDEL', key, 'sum')
      end
    end
    local newer = not stats[4] or tonumber(latest_us) > tonumber(stats[4])
    if exact and newer then
      redis.call('HSET', key, 'count', count, 'exact', exact, 'last_us', latest_us, 'last_iso', latest_iso,
        'last_value', latest_value)
    elseif exact then
      redis.call('HSET', key, 'count', count, 'exact', exact)
    elseif newer then
      redis.call('HSET', key, 'count', count, 'last_us', latest_us, 'last_iso', latest_iso, 'last_value', latest_value)
    else
      redis.call('HSET', key, 'count', count)
    end
  end
  new_per_sensor[i] = new
end
return new_per_sensor
