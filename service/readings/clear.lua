-- Clear a sensor's statistics in O(1), whatever its history.
-- KEYS[1] sensor:{<id>}
-- ARGV[1] BUCKET_SECONDS in microseconds
-- ARGV[2] TTL in seconds of a bucket hash
-- ARGV[3] newest bucket number that may be waiting to be rolled up
-- Bumping the generation orphans the bucket hashes and history chunks of the
-- old one (they expire on their own; the worker reclaims the chunks early),
-- so a reading posted again after a clear counts again. Bucket hashes still
-- waiting to be rolled up (no TTL yet: ingest.lua's deferred zone) get
-- their TTL here. Returns the old generation.
local key = KEYS[1]
local stats = redis.call('HMGET', key, {{SensorStats.GEN}}, {{SensorStats.UNSEALED}})
local gen = stats[1] or '0'
local unsealed = tonumber(stats[2])
if unsealed then
  local prefix = key .. {{READINGS_SUFFIX}} .. gen .. {{SEPARATOR}}
  -- Bounded: older ones were rolled up, unless the worker stopped for longer.
  local newest = tonumber(ARGV[3])
  for number = math.max(unsealed, newest - 1000), newest do
    redis.call('EXPIRE', prefix .. string.format('%d', number), ARGV[2])
  end
end
redis.call('HINCRBY', key, {{SensorStats.GEN}}, 1)
redis.call('HDEL', key, {{SensorStats.COUNT}}, {{SensorStats.EXACT}}, {{SensorStats.SUM}}, {{SensorStats.LAST_US}},
  {{SensorStats.LAST_ISO}}, {{SensorStats.LAST_VALUE}}, {{SensorStats.UNSEALED}})
return gen
