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
-- sensor per call: `count`, and the exact sum of the values in `sum` and
-- `sum_high` (exactsum.lua, prepended; a `sum` of one double, as written
-- before exact sums, is read as it is). Returns the number of new readings
-- of each sensor.
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
  local stats = redis.call('HMGET', key, 'gen', 'count', 'sum', 'last_us', 'sum_high')
  local prefix = key .. ':r:' .. (stats[1] or '0') .. ':'
  local new = 0
  local sum = {exact_parse(stats[3]), exact_parse(stats[5])}
  for _ = 1, buckets do
    local bucket_key = prefix .. ARGV[pos]
    local readings = tonumber(ARGV[pos + 1])
    pos = pos + 2
    local before = new
    for _ = 1, readings do
      if redis.call('HSETNX', bucket_key, ARGV[pos], ARGV[pos + 1]) == 1 then
        new = new + 1
        exact_add(sum, tonumber(ARGV[pos + 1]))
      end
      pos = pos + 2
    end
    if new > before then
      redis.call('EXPIRE', bucket_key, ttl)
    end
  end
  if new > 0 then
    local count = string.format('%d', tonumber(stats[2] or '0') + new)
    -- An overflowed sum of before exact sums stays as it is (its readings
    -- are gone; the average reads null until a clear).
    local fields = {'count', count, 'sum', exact_finite(sum[1]) and exact_text(sum[1]) or stats[3]}
    if #sum[2] > 0 then
      fields[5], fields[6] = 'sum_high', exact_text(sum[2])
    end
    if not stats[4] or tonumber(latest_us) > tonumber(stats[4]) then
      local n = #fields
      fields[n + 1], fields[n + 2], fields[n + 3] = 'last_us', latest_us, 'last_iso'
      fields[n + 4], fields[n + 5], fields[n + 6] = latest_iso, 'last_value', latest_value
    end
    redis.call('HSET', key, unpack(fields))
  end
  new_per_sensor[i] = new
end
return new_per_sensor
