-- Move a dead letter back to the pending deliveries, due now, attempts reset.
--
-- KEYS[1] {events}:dead  KEYS[2] {events}:dead:index
-- KEYS[3] {events}:deliveries  KEYS[4] {events}:attempts
-- ARGV[1] member  ARGV[2] now (s)
-- Returns 1, or 0 when there is no such dead letter.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
