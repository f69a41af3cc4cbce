--include service/webhooks/queue.lua
-- Turn one stream entry read by the consumer group into one pending
-- delivery per matching webhook, and acknowledge the entry, atomically:
-- an entry is either still pending in the group (a crashed worker's entry
-- is claimed by another) or fully fanned out, never half.
--
-- KEYS[1] {events}:stream  KEYS[2] {events}:deliveries  KEYS[3] {events}:since
-- KEYS[4] {events}:queue   KEYS[5] {events}:ready
-- (a webhook's queue {events}:queue:<id> is derived from KEYS[4], same tag)
-- ARGV[1] group  ARGV[2] stream id  ARGV[3] now (s)  ARGV[4..] webhook ids
for i = 4, #ARGV do
  local member = ARGV[i] .. {{SEPARATOR}} .. ARGV[2]
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[3], member) == 1 then
    redis.call('HSET', KEYS[3], member, ARGV[3])
    local queue = KEYS[4] .. {{SEPARATOR}} .. ARGV[i]
    redis.call('ZADD', queue, ARGV[3], member)
    refresh_ready(KEYS[5], queue, ARGV[i])
  end
end
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
