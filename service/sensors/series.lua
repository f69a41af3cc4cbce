--include service/exactsum.lua
-- Downsample one sensor's raw readings in [start, end) into fixed steps.
--
-- KEYS[1]  sensor:{<id>}       statistics hash (holds the clear generation)
-- KEYS[2]  sensor:{<id>}:meta  the registry's metadata of the sensor
-- ARGV[1]  start (microseconds since the epoch, inclusive)
-- ARGV[2]  end (microseconds since the epoch, exclusive)
-- ARGV[3]  BUCKET_SECONDS in microseconds
-- ARGV[4]  step in microseconds (steps are aligned on multiples of it)
--
-- Reads only the overlapping bucket hashes. Returns {known, kind, declared
-- unit, input unit, org} (known = 1 if the sensor has statistics or
-- metadata; '' for a field not set) followed by step number,
-- count, sum, min, max of each non-empty step, in time order (sums exact
-- and packed: exactsum.lua, included; min and max as text: Lua numbers
-- would be truncated to integers in the reply).
local key = KEYS[1]
local start_us = tonumber(ARGV[1])
local end_us = tonumber(ARGV[2])
local bucket_us = tonumber(ARGV[3])
local step_us = tonumber(ARGV[4])
local known = redis.call('EXISTS', key, KEYS[2])
local meta = redis.call('HMGET', KEYS[2], {{SensorMeta.KIND}}, {{SensorMeta.UNIT}}, {{SensorMeta.INPUT_UNIT}},
  {{SensorMeta.ORG}})
local gen = redis.call('HGET', key, {{SensorStats.GEN}}) or '0'
local prefix = key .. {{READINGS_SUFFIX}} .. gen .. {{SEPARATOR}}
local steps, order = {}, {}
for bucket = math.floor(start_us / bucket_us), math.floor((end_us - 1) / bucket_us) do
  local base = bucket * bucket_us
  local flat = redis.call('HGETALL', prefix .. string.format('%d', bucket))
  for i = 1, #flat, 2 do
    -- ROLLED_FIELD marks a bucket hash as rolled up; it is not a reading.
    local at = flat[i] ~= {{ROLLED_FIELD}} and base + tonumber(flat[i])
    if at and at >= start_us and at < end_us then
      local value = tonumber(flat[i + 1])
      local n = math.floor(at / step_us)
      local s = steps[n]
      if s == nil then
        steps[n] = {1, {value}, value, value}
        order[#order + 1] = n
      else
        s[1] = s[1] + 1
        s[2][s[1]] = value
        if value < s[3] then s[3] = value end
        if value > s[4] then s[4] = value end
      end
    end
  end
end
table.sort(order)
local reply = {known, meta[1] or '', meta[2] or '', meta[3] or '', meta[4] or ''}
for _, n in ipairs(order) do
  local s = steps[n]
  reply[#reply + 1] = string.format('%d', n)
  reply[#reply + 1] = s[1]
  local sum = { {}, {} }
  exact_add(sum, s[2], s[1])
  reply[#reply + 1] = exact_pack(sum)
  reply[#reply + 1] = string.format('%.17g', s[3])
  reply[#reply + 1] = string.format('%.17g', s[4])
end
return reply
