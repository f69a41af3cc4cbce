--include service/exactsum.lua
-- Aggregate one sensor's raw readings whose instant lies in [start, end).
--
-- KEYS[1]  sensor:{<id>}       statistics hash (holds the clear generation)
-- KEYS[2]  sensor:{<id>}:meta  the registry's metadata of the sensor
-- ARGV[1]  start (microseconds since the epoch, inclusive)
-- ARGV[2]  end (microseconds since the epoch, exclusive)
-- ARGV[3]  BUCKET_SECONDS in microseconds
--
-- Reads only the bucket hashes that overlap the window (derived from the
-- declared key, same hash tag), so the cost follows the window, not the
-- history. Returns {known, count, sum, min, max, kind, building, room, org}:
-- known = 1 if the sensor has statistics or metadata; sum exact and packed
-- (exactsum.lua, included), min and max as text (Lua numbers would be
-- truncated to integers in the reply).
local key = KEYS[1]
local start_us = tonumber(ARGV[1])
local end_us = tonumber(ARGV[2])
local bucket_us = tonumber(ARGV[3])
local meta_key = KEYS[2]
local known = redis.call('EXISTS', key, meta_key)
local meta = redis.call('HMGET', meta_key, {{SensorMeta.KIND}}, {{SensorMeta.BUILDING}}, {{SensorMeta.ROOM}}, {{SensorMeta.ORG}})
local gen = redis.call('HGET', key, {{SensorStats.GEN}}) or '0'
local prefix = key .. {{READINGS_SUFFIX}} .. gen .. {{SEPARATOR}}
local count, values, low, high = 0, {}, nil, nil
for bucket = math.floor(start_us / bucket_us), math.floor((end_us - 1) / bucket_us) do
  local base = bucket * bucket_us
  local inside = base >= start_us and base + bucket_us <= end_us
  local flat = redis.call('HGETALL', prefix .. string.format('%d', bucket))
  local from, to = start_us - base, end_us - base
  for i = 1, #flat, 2 do
    -- ROLLED_FIELD marks a bucket hash as rolled up; it is not a reading.
    local offset = flat[i] ~= {{ROLLED_FIELD}} and (inside or tonumber(flat[i]))
    if offset and (inside or (offset >= from and offset < to)) then
      local value = tonumber(flat[i + 1])
      count = count + 1
      values[count] = value
      if low == nil or value < low then low = value end
      if high == nil or value > high then high = value end
    end
  end
end
local function text(number)
  if number == nil then return '' end
  return string.format('%.17g', number)
end
local sum = { {}, {} }
exact_add(sum, values, count)
return {known, count, exact_pack(sum), text(low), text(high), meta[1] or '', meta[2] or '', meta[3] or '', meta[4] or ''}
