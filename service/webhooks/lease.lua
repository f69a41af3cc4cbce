-- Lease due deliveries to the caller: each due one is re-scored to the end
-- of its lease, so no other worker takes it meanwhile; if the caller dies,
-- the lease runs out and another worker retries it (same event id).
--
-- KEYS[1] {events}:deliveries
-- ARGV[1] now (s)  ARGV[2] lease end (s)  ARGV[3] most to lease
-- Returns the leased members.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
