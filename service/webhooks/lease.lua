-- Lease due deliveries to the caller, fairly: each due one is re-scored to
-- the end of its lease, so no other worker takes it meanwhile; if the
-- caller dies, the lease runs out and another worker retries it (same
-- event id). A webhook never has more than its bound in flight (over all
-- workers), so one that hangs holds only that many and the due deliveries
-- of the others are leased past it.
--
-- Circuit breaker (state written by settle.lua): while a webhook's circuit
-- is open its due deliveries are pushed back to the end of the cool-down,
-- not attempted; one older than max age is handed out to be settled as a
-- dead letter instead. Once the cool-down is over (half-open) one delivery
-- at a time is leased, as the trial.
--
-- KEYS[1] {events}:deliveries  KEYS[2] {events}:since
-- KEYS[3] {events}:inflight    KEYS[4] {events}:circuit
-- (a webhook's {events}:inflight:<id> and {events}:circuit:<id> are derived
-- from KEYS[3] and KEYS[4], same tag)
-- ARGV[1] now (s)  ARGV[2] lease end (s)  ARGV[3] most to lease
-- ARGV[4] most due deliveries to look at  ARGV[5] in flight per webhook
-- ARGV[6] max age (s) of a delivery held back by an open circuit
-- Returns {leased members, members to settle as dead letters}.
local now = tonumber(ARGV[1])
local most = tonumber(ARGV[3])
local bound = tonumber(ARGV[5])
local max_age = tonumber(ARGV[6])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
local free, open_until = {}, {}
local leased, expired = {}, {}
for _, member in ipairs(due) do
  if #leased + #expired >= most then
    break
  end
  local sep = string.find(member, ':', 1, true)
  local webhook = string.sub(member, 1, sep - 1)
  local inflight = KEYS[3] .. ':' .. webhook
  if free[webhook] == nil then
    -- Leases that ran out belong to workers that died: not in flight.
    redis.call('ZREMRANGEBYSCORE', inflight, '-inf', ARGV[1])
    local until_ = tonumber(redis.call('HGET', KEYS[4] .. ':' .. webhook, 'open_until') or '0')
    local slots = bound
    if until_ > now then
      open_until[webhook] = until_
      slots = 0
    elseif until_ > 0 then
      slots = 1  -- half-open: one trial
    end
    free[webhook] = slots - redis.call('ZCARD', inflight)
  end
  if open_until[webhook] then
    local since = tonumber(redis.call('HGET', KEYS[2], member) or '')
    if not since then  -- pending since before ages were recorded: the event's time
      since = tonumber(string.match(member, ':(%d+)')) / 1000
    end
    if now - since >= max_age then
      redis.call('ZADD', KEYS[1], ARGV[2], member)
      expired[#expired + 1] = member
    else
      redis.call('ZADD', KEYS[1], open_until[webhook], member)
    end
  elseif free[webhook] > 0 then
    free[webhook] = free[webhook] - 1
    redis.call('ZADD', KEYS[1], ARGV[2], member)
    redis.call('ZADD', inflight, ARGV[2], member)
    leased[#leased + 1] = member
  end
end
return {leased, expired}
