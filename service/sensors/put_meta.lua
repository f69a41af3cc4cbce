-- Replace a sensor's metadata atomically; returns the previous metadata.
--
-- KEYS[1]  sensor:{<id>}:meta
-- ARGV[1]  now (ISO 8601): the update time, and the registration time of
--          a sensor registered for the first time
-- ARGV[2..] field, value pairs of the new metadata
--
-- The caller moves the sensor between index sets from the returned old
-- metadata (those sets are other keys, other slots).
local old = redis.call('HGETALL', KEYS[1])
local registered = ARGV[1]
for i = 1, #old, 2 do
  if old[i] == {{SensorMeta.REGISTERED}} then registered = old[i + 1] end
end
redis.call('DEL', KEYS[1])
local fields = { {{SensorMeta.REGISTERED}}, registered, {{SensorMeta.UPDATED}}, ARGV[1] }
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
return old
