-- Claim a sensor of no org for an org, atomically with the check that it
-- holds no data: a sensor written before (readings, heartbeats, registry
-- metadata) keeps no org until an all-orgs admin assigns one.
-- KEYS[1]  sensor:{<id>}:meta   KEYS[2]  sensor:{<id>} (statistics)
-- KEYS[3]  the sensor's liveness hash (heartbeats)
-- ARGV[1]  the org claiming; ARGV[2] "1" to check only (nothing written)
-- Returns the sensor's org (after the claim), or false for a sensor of no
-- org that holds data (not claimable).
local org = redis.call('HGET', KEYS[1], {{SensorMeta.ORG}})
if org then
  return org
end
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then
  return false
end
if ARGV[2] == '1' then
  return ARGV[1]
end
redis.call('HSET', KEYS[1], {{SensorMeta.ORG}}, ARGV[1])
return ARGV[1]
