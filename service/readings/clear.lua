-- Clear a sensor's statistics in O(1), whatever its history.
-- KEYS[1] sensor:{<id>}
-- Bumping the generation orphans the bucket hashes of the old one (they
-- expire on their own), so a reading posted again after a clear counts again.
redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HDEL', KEYS[1], 'count', 'exact', 'sum', 'last_us', 'last_iso', 'last_value')
return 1
