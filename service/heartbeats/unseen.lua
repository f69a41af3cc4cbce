-- Remove an id from sensors:seen unless it was heard after a given time.
--
-- KEYS[1] sensors:seen   ARGV[1] the id   ARGV[2] last heard as read (s)
--
-- A ZREM that keeps a later score: an id heard again since it was read
-- stays indexed, so offline detection still finds it.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
