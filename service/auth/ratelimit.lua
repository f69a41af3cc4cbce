-- Count one request of an API key in its current one-second window.
-- KEYS[1]  ratelimit:{<key id>}  the key's counter (a hash of the key, never the key)
-- ARGV[1]  requests allowed per window
-- The first request of a window creates the counter with a 1 s expiry (a
-- fixed window). Returns 0 when the request is allowed, otherwise the
-- milliseconds until the window ends.
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], 1000)
  return 0
end
if count <= tonumber(ARGV[1]) then
  return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  -- A counter that lost its expiry would block the key forever: restart it.
  redis.call('PEXPIRE', KEYS[1], 1000)
  left = 1000
end
return left
