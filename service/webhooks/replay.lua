--include service/webhooks/queue.lua
--include service/webhooks/dead.lua
-- Move a dead letter back to the pending deliveries, due now, attempts and
-- age reset; not when its webhook is gone (nothing to deliver it to: the
-- dead letter stays, for the caller to discard).
--
-- KEYS[1] {events}:dead  KEYS[2] {events}:dead:index
-- KEYS[3] {events}:deliveries  KEYS[4] {events}:attempts
-- KEYS[5] {events}:since  KEYS[6] {events}:queue:<webhook id>
-- KEYS[7] {events}:ready  KEYS[8] {events}:webhooks
-- ARGV[1] member  ARGV[2] now (s)  ARGV[3] webhook id
-- Returns 1 (replayed), 0 (no such dead letter) or -1 (its webhook is gone).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
if redis.call('HEXISTS', KEYS[8], ARGV[3]) == 0 then
  return -1
end
remove_dead_letter(KEYS[1], KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
refresh_ready(KEYS[7], KEYS[6], ARGV[3])
return 1
