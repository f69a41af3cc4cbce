--include service/webhooks/queue.lua
-- Record the outcome of one leased delivery attempt.
--
-- KEYS[1] {events}:deliveries  KEYS[2] {events}:attempts
-- KEYS[3] {events}:dead        KEYS[4] {events}:dead:index
-- KEYS[5] {events}:dead:index:<org> of the webhook's org (unused for an
-- all-orgs webhook: its dead letters are for all-orgs keys only)
-- KEYS[6] {events}:since       KEYS[7] {events}:inflight:<webhook id>
-- KEYS[8] {events}:circuit:<webhook id>  KEYS[9] {events}:queue:<webhook id>
-- KEYS[10] {events}:ready  KEYS[11] {events}:webhooks
-- ARGV[1] member <webhook id>:<stream id>  ARGV[2] lease end it was leased with
-- ARGV[3] '' on success, else the error   ARGV[4] now (s)  ARGV[5] now ISO
-- ARGV[6] max attempts  ARGV[7] retry base (s)  ARGV[8] retry cap (s)
-- ARGV[9] event id  ARGV[10] the event's org, '' for none
-- ARGV[11] 'http' (an HTTP attempt: it counts for the circuit), 'local'
-- (nothing to send: webhook deleted or event trimmed) or 'giveup' (held
-- back by the open circuit past its age: a dead letter, not an attempt)
-- ARGV[12] failures that open the circuit  ARGV[13] its cool-down (s)
-- ARGV[14] the webhook's org, '' for all orgs
--
-- Success removes the delivery. Failure n waits min(base*2^(n-1), cap),
-- or after max attempts moves it to the dead letters. An outcome whose
-- lease was taken over by another worker (it ran out) is ignored. An HTTP
-- success closes the webhook's circuit; consecutive HTTP failures open it.
-- A failure of a webhook deleted meanwhile is dropped: neither retried nor
-- a dead letter (deleting a webhook deletes its dead letters).
-- Returns {attempts, state, circuit}: state 'delivered', 'retry', 'dead',
-- 'dropped' or 'stale'; circuit 'closed', 'open' or '' (unchanged).
local member = ARGV[1]
local webhook = string.sub(member, 1, string.find(member, {{SEPARATOR}}, 1, true) - 1)
local leased = redis.call('ZSCORE', KEYS[1], member)
if not leased or tonumber(leased) ~= tonumber(ARGV[2]) then
  return {0, 'stale', ''}
end

-- The delivery's score (nil: no longer pending) in {events}:deliveries, in
-- its webhook's queue, and the webhook's earliest in {events}:ready.
local function schedule(score)
  if score then
    redis.call('ZADD', KEYS[1], score, member)
    redis.call('ZADD', KEYS[9], score, member)
  else
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[9], member)
  end
  refresh_ready(KEYS[10], KEYS[9], webhook)
end

redis.call('ZREM', KEYS[7], member)
-- Its webhook was deleted meanwhile: no retry, no dead letter (the deletion
-- takes them along) and no circuit left behind.
if redis.call('HEXISTS', KEYS[11], webhook) == 0 then
  schedule(nil)
  redis.call('HDEL', KEYS[2], member)
  redis.call('HDEL', KEYS[6], member)
  if ARGV[11] == 'http' and ARGV[3] == '' then
    return {0, 'delivered', ''}
  end
  return {0, 'dropped', ''}
end
local circuit = ''
if ARGV[11] == 'http' then
  if ARGV[3] == '' then
    redis.call('DEL', KEYS[8])
    circuit = 'closed'
  else
    local failures = redis.call('HINCRBY', KEYS[8], {{WebhookCircuit.FAILURES}}, 1)
    redis.call('HSET', KEYS[8], {{WebhookCircuit.ERROR}}, ARGV[3])
    if failures >= tonumber(ARGV[12]) then
      redis.call('HSET', KEYS[8], {{WebhookCircuit.OPEN_UNTIL}}, tonumber(ARGV[4]) + tonumber(ARGV[13]))
      circuit = 'open'
    else
      circuit = 'closed'
    end
  end
end
if ARGV[3] == '' then
  schedule(nil)
  redis.call('HDEL', KEYS[2], member)
  redis.call('HDEL', KEYS[6], member)
  return {0, 'delivered', circuit}
end
local attempts
if ARGV[11] == 'giveup' then
  attempts = tonumber(redis.call('HGET', KEYS[2], member) or '0')
else
  attempts = redis.call('HINCRBY', KEYS[2], member, 1)
end
if ARGV[11] == 'giveup' or attempts >= tonumber(ARGV[6]) then
  schedule(nil)
  redis.call('HDEL', KEYS[2], member)
  redis.call('HDEL', KEYS[6], member)
  redis.call('HSET', KEYS[3], member, cjson.encode({
    id = member,
    webhook = webhook,
    stream_id = string.sub(member, #webhook + 2),
    event_id = ARGV[9],
    attempts = attempts,
    last_error = ARGV[3],
    failed_at = ARGV[5],
    org = ARGV[10] ~= '' and ARGV[10] or nil,
  }))
  redis.call('ZADD', KEYS[4], ARGV[4], member)
  if ARGV[14] ~= '' then
    redis.call('ZADD', KEYS[5], ARGV[4], member)
  end
  return {attempts, 'dead', circuit}
end
local wait = math.min(tonumber(ARGV[7]) * 2 ^ (attempts - 1), tonumber(ARGV[8]))
schedule(tonumber(ARGV[4]) + wait)
return {attempts, 'retry', circuit}
