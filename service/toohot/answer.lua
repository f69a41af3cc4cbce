-- The too-hot answer of one site: its settings and the state of candidate
-- local days, in one call.
--
-- KEYS[1]  site:{<id>}  the site's record (with its copy of its org's settings)
-- ARGV     default time zone, default threshold (°C), default unit, then
--          the dates (YYYY-MM-DD) to read: the asked one, or every date
--          that is today somewhere on Earth (the caller picks the site's
--          once it knows its zone)
--
-- Day keys are derived from KEYS[1] (same hash tag): site:{<id>}:day:<date>
-- and its :minutes sorted set (suffixes of service/keys.py).
--
-- Returns false for an unknown site; {org} when the site's copy of its
-- org's settings is missing or of another org (the caller refreshes it and
-- asks again); else {org or '', time zone, threshold, unit, then per date:
-- readings, max, max_at, minutes above the threshold}.
local site = redis.call('HMGET', KEYS[1], {{SiteRecord.ID}}, {{SiteRecord.ORG}}, {{SiteRecord.TIMEZONE}},
  {{SiteRecord.THRESHOLD}}, {{SiteRecord.ORG_COPY}}, {{SiteRecord.ORG_TIMEZONE}}, {{SiteRecord.ORG_THRESHOLD}},
  {{SiteRecord.ORG_UNIT}})
if not site[1] then
  return false
end
local org = site[2]
local zone, threshold, unit = ARGV[1], ARGV[2], ARGV[3]
if org then
  if site[5] ~= org then
    return {org}
  end
  zone, threshold, unit = site[6], site[7], site[8]
end
zone = site[3] or zone
threshold = site[4] or threshold
local reply = {org or '', zone, threshold, unit}
local above = '(' .. threshold
for pos = 4, #ARGV do
  local day = KEYS[1] .. {{DAY_SUFFIX}} .. ARGV[pos]
  local state = redis.call('HMGET', day, {{SiteDay.READINGS}}, {{SiteDay.MAX}}, {{SiteDay.MAX_AT}})
  reply[#reply + 1] = state[1]
  reply[#reply + 1] = state[2]
  reply[#reply + 1] = state[3]
  reply[#reply + 1] = redis.call('ZCOUNT', day .. {{MINUTES_SUFFIX}}, above, '+inf')
end
return reply
