--include service/webhooks/queue.lua
-- Move a dead letter back to the pending deliveries, due now, attempts and
-- age reset.
--
-- KEYS[1] {events}:dead  KEYS[2] {events}:dead:index
-- KEYS[3] {events}:deliveries  KEYS[4] {events}:attempts
-- KEYS[5] {events}:since  KEYS[6] {events}:queue:<webhook id>
-- KEYS[7] {events}:ready
-- ARGV[1] member  ARGV[2] now (s)  ARGV[3] webhook id
-- The org's index {events}:dead:index:<org> is derived from KEYS[2] (same
-- tag) with the org recorded in the dead letter.
-- Returns 1, or 0 when there is no such dead letter.
local dead = redis.call('HGET', KEYS[1], ARGV[1])
if not dead then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local org = cjson.decode(dead).org
if type(org) == 'string' and org ~= '' then
  redis.call('ZREM', KEYS[2] .. {{SEPARATOR}} .. org, ARGV[1])
end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
refresh_ready(KEYS[7], KEYS[6], ARGV[3])
return 1
