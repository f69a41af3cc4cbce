-- Replace a sensor's metadata atomically; returns the previous metadata.
--
-- KEYS[1]  sensor:{<id>}:meta   KEYS[2]  sensor:{<id>} (statistics)
-- ARGV[1]  now (ISO 8601): the update time, and the registration time of
--          a sensor registered for the first time
-- ARGV[2..] field, value pairs of the new metadata
--
-- Returns {1, previous metadata (HGETALL)}; or {0, its kind}, nothing
-- written, when the kind would change while the sensor holds readings:
-- they are stored in its kind's canonical unit, and another kind would
-- read them as its own.
-- The caller moves the sensor between index sets from the returned old
-- metadata (those sets are other keys, other slots).
local old_kind = redis.call('HGET', KEYS[1], {{SensorMeta.KIND}})
if old_kind then
  local new_kind = false
  for i = 2, #ARGV, 2 do
    if ARGV[i] == {{SensorMeta.KIND}} then new_kind = ARGV[i + 1] end
  end
  if new_kind ~= old_kind and tonumber(redis.call('HGET', KEYS[2], {{SensorStats.COUNT}}) or '0') > 0 then
    return {0, old_kind}
  end
end
local old = redis.call('HGETALL', KEYS[1])
local registered = ARGV[1]
for i = 1, #old, 2 do
  if old[i] == {{SensorMeta.REGISTERED}} then registered = old[i + 1] end
end
redis.call('DEL', KEYS[1])
local fields = { {{SensorMeta.REGISTERED}}, registered, {{SensorMeta.UPDATED}}, ARGV[1] }
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
return {1, old}
