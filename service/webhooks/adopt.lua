--include service/webhooks/queue.lua
-- Put pending deliveries missing from their webhook's queue into it (and
-- the webhook into {events}:ready): those written before queues existed,
-- or by a worker of that version during a rolling upgrade.
--
-- KEYS[1] {events}:deliveries  KEYS[2] {events}:queue  KEYS[3] {events}:ready
-- (a webhook's queue {events}:queue:<id> is derived from KEYS[2], same tag)
-- ARGV members to look at
-- Returns how many were added.
local added = 0
for _, member in ipairs(ARGV) do
  local score = redis.call('ZSCORE', KEYS[1], member)
  local webhook = string.sub(member, 1, string.find(member, {{SEPARATOR}}, 1, true) - 1)
  local queue = KEYS[2] .. {{SEPARATOR}} .. webhook
  if score and not redis.call('ZSCORE', queue, member) then
    redis.call('ZADD', queue, score, member)
    refresh_ready(KEYS[3], queue, webhook)
    added = added + 1
  end
end
return added
