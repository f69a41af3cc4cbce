-- Clear a sensor's statistics in O(1), whatever its history.
-- KEYS[1] sensor:{<id>}
-- Bumping the generation orphans the bucket hashes of the old one (they
-- expire on their own), so a reading posted again after a clear counts again.
-- Returns the old generation (its history tiers are the worker's to reclaim).
local gen = redis.call('HINCRBY', KEYS[1], {{SensorStats.GEN}}, 1)
redis.call('HDEL', KEYS[1], {{SensorStats.COUNT}}, {{SensorStats.EXACT}}, {{SensorStats.SUM}}, {{SensorStats.LAST_US}},
  {{SensorStats.LAST_ISO}}, {{SensorStats.LAST_VALUE}})
return gen - 1
