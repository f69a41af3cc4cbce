-- Count one event in a fixed window, or only look at the count.
-- KEYS[1]  the window's counter: ratelimit:{<key id>} (requests of an API
--          key) or authfail:{<subject>} (failed key guesses)
-- ARGV[1]  events allowed per window
-- ARGV[2]  window length in milliseconds
-- ARGV[3]  '1': count this event; '0': only check the count so far
-- The first event of a window creates the counter with the window as its
-- expiry. Returns 0 while within the limit, otherwise the milliseconds until
-- the window ends.
local count
if ARGV[3] == '1' then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 0
  end
else
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
end
if count <= tonumber(ARGV[1]) then
  return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  -- A counter that lost its expiry would block forever: restart its window.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2])
end
return left
