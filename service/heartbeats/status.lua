-- Record a heartbeat and/or claim a sensor's online/offline transition,
-- atomically and exactly once, then return the sensor's unpublished events.
--
-- KEYS[1] sensor:{<id>}:hb      liveness hash
-- KEYS[2] sensor:{<id>}:outbox  the sensor's claimed, unpublished events
-- KEYS[3] sensor:{<id>}:meta    the registry's metadata (org and site of events)
-- ARGV[1] sensor id
-- ARGV[2] when the sensor was last heard per sensors:seen (s; '' if unknown)
-- ARGV[3] cutoff (s): heard at or before it means offline
-- ARGV[4] now (s, server time)      ARGV[5] now as ISO 8601 text
-- ARGV[6] normalised MAC address of a heartbeat, '' when only checking
--
-- A sensor goes offline when its status is not already offline and the
-- latest of ARGV[2] and its last heartbeat is at or before the cutoff; it
-- comes back online when offline and heard after it was last heard at the
-- offline transition. A transition bumps seq, sets the status and appends
-- the event to the outbox in this one script, so two checkers can never
-- both claim it. Returns the outbox: JSON {event, heard} in claim order.
local hb, outbox, meta = KEYS[1], KEYS[2], KEYS[3]
local sensor, now, now_iso = ARGV[1], ARGV[4], ARGV[5]

if ARGV[6] ~= '' then
  redis.call('HSET', hb, {{SensorHeartbeat.LAST_HB}}, now, {{SensorHeartbeat.MAC}}, ARGV[6])
end

local state = redis.call('HMGET', hb, {{SensorHeartbeat.STATUS}}, {{SensorHeartbeat.LAST_HB}},
  {{SensorHeartbeat.HEARD_AT}})
local status, last_hb, heard_at = state[1], state[2], state[3]
local heard = ARGV[2]
if last_hb and (heard == '' or tonumber(last_hb) > tonumber(heard)) then
  heard = last_hb
end

local function iso(seconds)
  -- UTC civil date from days since the epoch (H. Hinnant's algorithm).
  local whole = math.floor(seconds)
  local ms = math.floor((seconds - whole) * 1000)
  local days = math.floor(whole / 86400)
  local rem = whole - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', year, month, day,
    math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60, ms)
end

local function meta_field(name)
  local kind = redis.call('TYPE', meta)['ok']
  if kind == 'hash' then
    return redis.call('HGET', meta, name) or ''
  elseif kind == 'string' then
    local ok, doc = pcall(cjson.decode, redis.call('GET', meta))
    if ok and type(doc) == 'table' and type(doc[name]) == 'string' then
      return doc[name]
    end
  end
  return ''
end

local function claim(new_status)
  local seq = redis.call('HINCRBY', hb, {{SensorHeartbeat.SEQ}}, 1)
  local event = {
    id = string.format('%s:%d:%s', sensor, seq, string.gsub(now, '%.', '')),
    type = 'sensor.' .. new_status,
    subject = sensor,
    sensor = sensor,
    org = meta_field({{SensorMeta.ORG}}),
    site = meta_field({{SensorMeta.SITE}}),
    at = now_iso,
    last_heard = iso(tonumber(heard)),
  }
  redis.call('HSET', hb, {{SensorHeartbeat.STATUS}}, new_status, {{SensorHeartbeat.SINCE}}, now)
  if new_status == 'offline' then
    redis.call('HSET', hb, {{SensorHeartbeat.HEARD_AT}}, heard)
  end
  redis.call('RPUSH', outbox, cjson.encode({event = event, heard = heard}))
end

if heard ~= '' then
  if status ~= 'offline' and tonumber(heard) <= tonumber(ARGV[3]) then
    claim('offline')
  elseif status == 'offline' and tonumber(heard) > tonumber(heard_at or '0') then
    claim('online')
  elseif not status then
    redis.call('HSET', hb, {{SensorHeartbeat.STATUS}}, 'online', {{SensorHeartbeat.SINCE}}, now)
  end
end
return redis.call('LRANGE', outbox, 0, -1)
