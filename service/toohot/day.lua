-- Apply readings to local days of sites, each day atomically (the whole
-- call is atomic).
--
-- Per day i, in order:
--   KEYS[2i-1]  site:{<id>}                the site's record (its org is checked)
--   KEYS[2i]    site:{<id>}:day:<date>     the day's summary hash
--   ARGV        org the readings were sent for, seconds until the day's keys
--               expire (retention after the day's end), the site's too-hot
--               threshold in force (°C), the number of readings n, then n
--               times: sensor id, microseconds after the local midnight, °C value
-- On a Redis Cluster every key of a call is in one hash slot.
--
-- Derived keys (same hash tag, suffixes of service/keys.py): day:minutes
-- (minute -> highest °C, ZADD GT), day:seen:<sensor> (bitmap of whole
-- seconds) and day:seenf (set of sub-second instants): the dedup memory, so a
-- reading counts once however often it is sent or retried.
--
-- The too-hot outbox: the first call that finds the day's maximum above
-- the threshold in force records it in the day hash (hot_max,
-- hot_threshold); until the caller has published the site.too_hot event
-- and set hot_published, every call returns it again, so a crash between
-- this script and the publication is repaired by the next call for the
-- day (a retry or the next reading).
--
-- Returns per day: -2 when the site does not exist, -1 when it belongs to
-- another org (nothing of that day changed either way), else {new
-- readings} or, while the day's event is unpublished, {new readings,
-- hot_max, hot_threshold}.
local function apply_day(site, day, org_sent, ttl, threshold, first, last)
  local org = redis.call('HGET', site, {{SiteRecord.ORG}})
  if org == false then
    if redis.call('EXISTS', site) == 0 then
      return -2
    end
    return -1
  end
  if org ~= org_sent then
    return -1
  end
  local minutes = day .. {{MINUTES_SUFFIX}}
  local seen_fraction = day .. {{SEEN_FRACTION_SUFFIX}}
  -- The outbox fields too: this call is the only writer of them until it returns.
  local state = redis.call('HMGET', day, {{SiteDay.READINGS}}, {{SiteDay.MAX}}, {{SiteDay.MAX_AT}}, {{SiteDay.HOT_MAX}},
    {{SiteDay.HOT_THRESHOLD}}, {{SiteDay.HOT_PUBLISHED}})
  local readings = tonumber(state[1] or '0')
  local max, max_at = nil, nil
  if state[2] then
    max, max_at = tonumber(state[2]), tonumber(state[3])
  end
  local max_text, max_at_text = nil, nil
  local touched = {}
  local new = 0
  for pos = first, last, 3 do
    local sensor = ARGV[pos]
    local offset = tonumber(ARGV[pos + 1])
    local value = tonumber(ARGV[pos + 2])
    local fresh
    if offset % 1000000 == 0 then
      local bitmap = day .. {{SEEN_SUFFIX}} .. sensor
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
      redis.call('HSET', day, {{SiteDay.READINGS}}, readings + new, {{SiteDay.MAX}}, max_text,
        {{SiteDay.MAX_AT}}, max_at_text)
    else
      redis.call('HSET', day, {{SiteDay.READINGS}}, readings + new)
    end
    redis.call('EXPIRE', day, ttl)
    redis.call('EXPIRE', minutes, ttl)
  end
  for key in pairs(touched) do
    redis.call('EXPIRE', key, ttl)
  end
  local hot = {state[4], state[5], state[6]}
  if not hot[1] and max ~= nil and max > tonumber(threshold) then
    hot = {max_text or state[2], threshold, false}
    redis.call('HSET', day, {{SiteDay.HOT_MAX}}, hot[1], {{SiteDay.HOT_THRESHOLD}}, hot[2])
  end
  if hot[1] and not hot[3] then
    return {new, hot[1], hot[2]}
  end
  return {new}
end

local results = {}
local pos = 1
for i = 1, #KEYS, 2 do
  local count = tonumber(ARGV[pos + 3])
  local first = pos + 4
  local last = first + 3 * count - 1
  results[#results + 1] = apply_day(KEYS[i], KEYS[i + 1], ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], first, last)
  pos = last + 1
end
return results
