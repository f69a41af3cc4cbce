--include service/webhooks/queue.lua
-- Lease due deliveries to the caller, fairly: each due one is re-scored to
-- the end of its lease, so no other worker takes it meanwhile; if the
-- caller dies, the lease runs out and another worker retries it (same
-- event id). Deliveries are taken webhook by webhook, earliest due first
-- (from {events}:ready and each webhook's queue), and a webhook never has
-- more than its bound in flight over all workers: one that hangs holds
-- only that many, and its backlog never hides another webhook's.
--
-- Circuit breaker (state written by settle.lua): while a webhook's circuit
-- is open its due deliveries are pushed back to the end of the cool-down,
-- not attempted; one older than max age is handed out to be settled as a
-- dead letter instead. Once the cool-down is over (half-open) one delivery
-- at a time is leased, as the trial.
--
-- {events}:deliveries is the truth; a queue entry that disagrees with it
-- (written by a worker of a version without queues) is corrected here.
--
-- KEYS[1] {events}:deliveries  KEYS[2] {events}:since
-- KEYS[3] {events}:inflight    KEYS[4] {events}:circuit
-- KEYS[5] {events}:queue       KEYS[6] {events}:ready
-- (a webhook's {events}:inflight:<id>, {events}:circuit:<id> and
-- {events}:queue:<id> are derived from KEYS[3], KEYS[4] and KEYS[5], same tag)
-- ARGV[1] now (s)  ARGV[2] lease end (s)  ARGV[3] most to lease
-- ARGV[4] most webhooks to look at  ARGV[5] in flight per webhook
-- ARGV[6] max age (s) of a delivery held back by an open circuit
-- Returns {leased members, members to settle as dead letters}.
local now = tonumber(ARGV[1])
local most = tonumber(ARGV[3])
local bound = tonumber(ARGV[5])
local max_age = tonumber(ARGV[6])
local leased, expired = {}, {}

-- Up to count due deliveries in the webhook's queue that {events}:deliveries
-- agrees are due (the others are corrected on the way).
local function due_in(queue, count)
  local due = {}
  for _ = 1, 10 do
    local members = redis.call('ZRANGEBYSCORE', queue, '-inf', ARGV[1], 'LIMIT', #due, count - #due)
    local corrected = false
    for _, member in ipairs(members) do
      local score = redis.call('ZSCORE', KEYS[1], member)
      if not score then
        redis.call('ZREM', queue, member)
        corrected = true
      elseif tonumber(score) > now then
        redis.call('ZADD', queue, score, member)
        corrected = true
      else
        due[#due + 1] = member
      end
    end
    if not corrected or #due >= count then
      break
    end
  end
  return due
end

local function lease(queue, member)
  redis.call('ZADD', KEYS[1], ARGV[2], member)
  redis.call('ZADD', queue, ARGV[2], member)
end

local webhooks = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
for _, webhook in ipairs(webhooks) do
  local room = most - #leased - #expired
  if room <= 0 then
    break
  end
  local queue = KEYS[5] .. {{SEPARATOR}} .. webhook
  local inflight = KEYS[3] .. {{SEPARATOR}} .. webhook
  -- Leases that ran out belong to workers that died: not in flight.
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', ARGV[1])
  local open_until = tonumber(redis.call('HGET', KEYS[4] .. {{SEPARATOR}} .. webhook, {{WebhookCircuit.OPEN_UNTIL}}) or '0')
  if open_until > now then
    for _, member in ipairs(due_in(queue, 1000)) do
      local since = tonumber(redis.call('HGET', KEYS[2], member) or '')
      if not since then  -- pending since before ages were recorded: the event's time
        since = tonumber(string.match(member, {{SEPARATOR}} .. '(%d+)')) / 1000
      end
      if now - since < max_age then
        redis.call('ZADD', KEYS[1], open_until, member)
        redis.call('ZADD', queue, open_until, member)
      elseif #leased + #expired < most then
        lease(queue, member)
        expired[#expired + 1] = member
      end
    end
  else
    local slots = bound
    if open_until > 0 then
      slots = 1  -- half-open: one trial
    end
    slots = math.min(slots - redis.call('ZCARD', inflight), room)
    if slots > 0 then
      for _, member in ipairs(due_in(queue, slots)) do
        lease(queue, member)
        redis.call('ZADD', inflight, ARGV[2], member)
        leased[#leased + 1] = member
      end
    end
  end
  refresh_ready(KEYS[6], queue, webhook)
end
return {leased, expired}
