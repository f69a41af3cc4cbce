-- Record the outcome of one leased delivery attempt.
--
-- KEYS[1] {events}:deliveries  KEYS[2] {events}:attempts
-- KEYS[3] {events}:dead        KEYS[4] {events}:dead:index
-- KEYS[5] {events}:dead:index:<org> of the event's org (unused without one)
-- ARGV[1] member <webhook id>:<stream id>  ARGV[2] lease end it was leased with
-- ARGV[3] '' on success, else the error   ARGV[4] now (s)  ARGV[5] now ISO
-- ARGV[6] max attempts  ARGV[7] retry base (s)  ARGV[8] retry cap (s)
-- ARGV[9] event id  ARGV[10] the event's org, '' for none
--
-- Success removes the delivery. Failure n waits min(base*2^(n-1), cap),
-- or after max attempts moves it to the dead letters. An outcome whose
-- lease was taken over by another worker (it ran out) is ignored.
-- Returns {attempts, state}: state 'delivered', 'retry', 'dead' or 'stale'.
local member = ARGV[1]
local leased = redis.call('ZSCORE', KEYS[1], member)
if not leased or tonumber(leased) ~= tonumber(ARGV[2]) then
  return {0, 'stale'}
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  return {0, 'delivered'}
end
local attempts = redis.call('HINCRBY', KEYS[2], member, 1)
if attempts >= tonumber(ARGV[6]) then
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  local sep = string.find(member, {{SEPARATOR}}, 1, true)
  redis.call('HSET', KEYS[3], member, cjson.encode({
    id = member,
    webhook = string.sub(member, 1, sep - 1),
    stream_id = string.sub(member, sep + 1),
    event_id = ARGV[9],
    attempts = attempts,
    last_error = ARGV[3],
    failed_at = ARGV[5],
    org = ARGV[10] ~= '' and ARGV[10] or nil,
  }))
  redis.call('ZADD', KEYS[4], ARGV[4], member)
  if ARGV[10] ~= '' then
    redis.call('ZADD', KEYS[5], ARGV[4], member)
  end
  return {attempts, 'dead'}
end
local wait = math.min(tonumber(ARGV[7]) * 2 ^ (attempts - 1), tonumber(ARGV[8]))
redis.call('ZADD', KEYS[1], tonumber(ARGV[4]) + wait, member)
return {attempts, 'retry'}
