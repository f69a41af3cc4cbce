-- Change fields of an existing site record.
--
-- KEYS[1]  site:{<id>}  the site's record hash
-- ARGV[1]  number n of fields to set; then n field, value pairs; then the
--          names of fields to remove (optional overrides set to null)
--
-- Returns false when the site does not exist (nothing changed), else
-- {old org or false, old location, the record after the change (HGETALL)}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local old = redis.call('HMGET', KEYS[1], {{SiteRecord.ORG}}, {{SiteRecord.LOCATION}})
local n = tonumber(ARGV[1])
local pos = 2
if n > 0 then
  local changes = {}
  for i = 1, 2 * n do
    changes[i] = ARGV[pos]
    pos = pos + 1
  end
  redis.call('HSET', KEYS[1], unpack(changes))
end
if pos <= #ARGV then
  local removed = {}
  for i = pos, #ARGV do
    removed[#removed + 1] = ARGV[i]
  end
  redis.call('HDEL', KEYS[1], unpack(removed))
end
return {old[1], old[2], redis.call('HGETALL', KEYS[1])}
