-- Apply readings to one local day of one site, atomically.
--
-- KEYS[1]  site:{<id>}                    the site's record (its org is checked)
-- KEYS[2]  site:{<id>}:day:<date>         the day's summary hash
-- ARGV[1]  org the readings were sent for
-- ARGV[2]  seconds until the day's keys expire (retention after the day's end)
-- ARGV[3]  the site's too-hot threshold in force (°C)
-- then per reading: sensor id, microseconds after the local midnight, °C value
--
-- Derived keys (same hash tag): KEYS[2]..':minutes' (minute -> highest °C,
-- ZADD GT), KEYS[2]..':seen:'..sensor (bitmap of whole seconds) and
-- KEYS[2]..':seenf' (set of sub-second instants): the dedup memory, so a
-- reading counts once however often it is sent or retried.
--
-- The too-hot outbox: the first call that finds the day's maximum above
-- the threshold in force records it in the day hash (hot_max,
-- hot_threshold); until the caller has published the site.too_hot event
-- and set hot_published, every call returns it again, so a crash between
-- this script and the publication is repaired by the next call for the
-- day (a retry or the next reading).
--
-- Returns -2 when the site does not exist, -1 when it belongs to another
-- org (nothing changed either way), else {new readings} or, while the
-- day's event is unpublished, {new readings, hot_max, hot_threshold}.
local org = redis.call('HGET', KEYS[1], 'org')
if org == false then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return -2
  end
  return -1
end
if org ~= ARGV[1] then
  return -1
end
local day = KEYS[2]
local minutes = day .. ':minutes'
local seen_fraction = day .. ':seenf'
local ttl = ARGV[2]
local state = redis.call('HMGET', day, 'readings', 'max', 'max_at')
local readings = tonumber(state[1] or '0')
local max, max_at = nil, nil
if state[2] then
  max, max_at = tonumber(state[2]), tonumber(state[3])
end
local max_text, max_at_text = nil, nil
local touched = {}
local new = 0
for pos = 4, #ARGV, 3 do
  local sensor = ARGV[pos]
  local offset = tonumber(ARGV[pos + 1])
  local value = tonumber(ARGV[pos + 2])
  local fresh
  if offset % 1000000 == 0 then
    local bitmap = day .. ':seen:' .. sensor
    fresh = redis.call('SETBIT', bitmap, offset / 1000000, 1) == 0
    touched[bitmap] = true
  else
    fresh = redis.call('SADD', seen_fraction, sensor .. ' ' .. ARGV[pos + 1]) == 1
    touched[seen_fraction] = true
  end
  if fresh then
    new = new + 1
    redis.call('ZADD', minutes, 'GT', ARGV[pos + 2], string.format('%d', math.floor(offset / 60000000)))
    -- The earliest instant wins a tie, so the answer does not depend on arrival order.
    if max == nil or value > max or (value == max and offset < max_at) then
      max, max_at = value, offset
      max_text, max_at_text = ARGV[pos + 2], ARGV[pos + 1]
    end
  end
end
if new > 0 then
  if max_text then
    redis.call('HSET', day, 'readings', readings + new, 'max', max_text, 'max_at', max_at_text)
  else
    redis.call('HSET', day, 'readings', readings + new)
  end
  redis.call('EXPIRE', day, ttl)
  redis.call('EXPIRE', minutes, ttl)
end
for key in pairs(touched) do
  redis.call('EXPIRE', key, ttl)
end
local hot = redis.call('HMGET', day, 'hot_max', 'hot_threshold', 'hot_published')
if not hot[1] and max ~= nil and max > tonumber(ARGV[3]) then
  hot = {max_text or state[2], ARGV[3], false}
  redis.call('HSET', day, 'hot_max', hot[1], 'hot_threshold', hot[2])
end
if hot[1] and not hot[3] then
  return {new, hot[1], hot[2]}
end
return {new}
