-- Append one event to the stream exactly once (idempotent by event id).
--
-- KEYS[1] {events}:stream     the event stream
-- KEYS[2] {events}:published  event id -> publish time (dedup memory)
-- KEYS[3] {events}:offline    sensors whose offline event is published
-- ARGV    event id, type, subject, org, event JSON, now (s),
--         dedup memory (s), stream length kept, sensor watch ('offline',
--         'online' or ''), when the sensor was last heard (s)
--
-- Returns the stream id of the new entry, or false when the event id was
-- already published (a retry after a crash, or a racing publisher).
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return false
end
local now = tonumber(ARGV[6])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[8], '*',
  {{StreamEntry.ID}}, ARGV[1], {{StreamEntry.TYPE}}, ARGV[2], {{StreamEntry.SUBJECT}}, ARGV[3],
  {{StreamEntry.ORG}}, ARGV[4], {{StreamEntry.EVENT}}, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[7]))
if ARGV[9] == 'offline' then
  redis.call('ZADD', KEYS[3], ARGV[10], ARGV[3])
elseif ARGV[9] == 'online' then
  redis.call('ZREM', KEYS[3], ARGV[3])
end
return id
