-- The org of each sensor named in KEYS (read only).
-- KEYS[i]  sensor:{<id>}:meta  (all in one slot on a cluster)
-- Returns, in KEYS order, field org of each hash, or nil for a sensor of no org.
local orgs = {}
for i = 1, #KEYS do
  orgs[i] = redis.call('HGET', KEYS[i], {{SensorMeta.ORG}})
end
return orgs
