-- Give a sensor the liveness heard under the MAC address registered to it
-- (the first step of HeartbeatStore.adopt_mac), keeping the later of each.
--
-- KEYS[1] sensor:{<id>}:hb   the registered sensor's liveness hash
-- ARGV[1] the MAC id's last heartbeat (s; '' if none)
-- ARGV[2] the normalised MAC address
-- ARGV[3] the MAC id's status ('' to copy none), ARGV[4] its since,
-- ARGV[5] its heard_at ('' if none)
--
-- Repeatable: the later heartbeat wins and a status is copied only to a
-- sensor that has none. Returns 1 when the status was copied, else 0.
local hb = KEYS[1]
local last_hb = redis.call('HGET', hb, {{SensorHeartbeat.LAST_HB}})
if ARGV[1] ~= '' and (not last_hb or tonumber(ARGV[1]) > tonumber(last_hb)) then
  redis.call('HSET', hb, {{SensorHeartbeat.LAST_HB}}, ARGV[1])
end
redis.call('HSET', hb, {{SensorHeartbeat.MAC}}, ARGV[2])
if ARGV[3] ~= '' and not redis.call('HGET', hb, {{SensorHeartbeat.STATUS}}) then
  redis.call('HSET', hb, {{SensorHeartbeat.STATUS}}, ARGV[3], {{SensorHeartbeat.SINCE}}, ARGV[4])
  if ARGV[5] ~= '' then
    redis.call('HSET', hb, {{SensorHeartbeat.HEARD_AT}}, ARGV[5])
  end
  return 1
end
return 0
