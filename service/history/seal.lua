--include service/exactsum.lua
--include service/history/rollup.lua
-- Roll up a sensor's bucket hashes of readings that waited (ingest.lua's
-- deferred zone) and have now ended long enough ago: each whole, at once.
--
-- KEYS[1]  sensor:{<id>}  statistics hash (generation, UNSEALED)
-- ARGV[1]  BUCKET_SECONDS in microseconds
-- ARGV[2]  horizon: bucket hashes numbered below it are rolled up
-- ARGV[3]  oldest bucket number worth looking at (older than any tier keeps)
-- ARGV[4]  now, seconds since the epoch
-- ARGV[5]  buckets per history chunk (keys.ROLLUP_CHUNK)
-- ARGV[6]  TTL in seconds a bucket hash gets once rolled up
-- ARGV[7]  number of history tiers, then seconds and keep (s) of each
--
-- A bucket hash already marked (ROLLED_FIELD) is skipped, so running twice
-- changes nothing. Afterwards UNSEALED is the horizon: later buckets may
-- still wait. Returns the number of bucket hashes rolled up.
local key = KEYS[1]
local raw_us = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local oldest = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local chunk_size = tonumber(ARGV[5])
local ttl = ARGV[6]
local tiers = rollup_tiers(7)
local stats = redis.call('HMGET', key, {{SensorStats.GEN}}, {{SensorStats.UNSEALED}})
local from = tonumber(stats[2])
if not from or from >= horizon then
  return 0
end
local gen = stats[1] or '0'
local prefix = key .. {{READINGS_SUFFIX}} .. gen .. {{SEPARATOR}}
local deltas, order = rollup_deltas(tiers)
-- Every tier's buckets hold whole bucket hashes: one delta serves them all.
local aligned = true
for t = 1, #tiers do
  if tiers[t].us % raw_us ~= 0 then aligned = false end
end
local sealed = 0
for number = math.max(from, oldest), horizon - 1 do
  local bucket_key = prefix .. string.format('%d', number)
  if not redis.call('HGET', bucket_key, {{ROLLED_FIELD}}) then
    local flat = redis.call('HGETALL', bucket_key)
    if #flat > 0 then
      local base = number * raw_us
      if aligned then
        local delta = rollup_new_delta()
        for i = 1, #flat, 2 do
          if flat[i] ~= {{ROLLED_FIELD}} then
            rollup_delta_add(delta, base + tonumber(flat[i]), tonumber(flat[i + 1]))
          end
        end
        rollup_gather_delta(tiers, deltas, order, base, delta)
      else
        for i = 1, #flat, 2 do
          rollup_gather(tiers, deltas, order, base + tonumber(flat[i]), tonumber(flat[i + 1]))
        end
      end
      redis.call('HSET', bucket_key, {{ROLLED_FIELD}}, '1')
      redis.call('EXPIRE', bucket_key, ttl)
      sealed = sealed + 1
    end
  end
end
rollup_write(key .. {{ROLLUP_SUFFIX}}, gen, tiers, deltas, order, chunk_size, now)
redis.call('HSET', key, {{SensorStats.UNSEALED}}, string.format('%d', horizon))
return sealed
