-- A webhook's place in {events}:ready, included (`--include`) by every
-- script that changes a webhook's queue: fanout, adopt, replay, lease and
-- settle. The webhook is scored by the earliest delivery in its queue, and
-- is not there when its queue is empty; lease.lua goes through webhooks in
-- that order, so a queue changed without this would be served late or never.
local function refresh_ready(ready, queue, webhook)
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  if head[1] then
    redis.call('ZADD', ready, head[2], webhook)
  else
    redis.call('ZREM', ready, webhook)
  end
end
