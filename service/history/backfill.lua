--include service/exactsum.lua
--include service/history/rollup.lua
-- Roll up one bucket hash of readings written before history existed,
-- whole and atomically (the background worker's backfill).
--
-- KEYS[1]  sensor:{<id>}:r:<gen>:<bucket>  the bucket hash of readings
-- KEYS[2]  sensor:{<id>}  the sensor's statistics hash (same hash tag)
-- ARGV[1]  BUCKET_SECONDS in microseconds
-- ARGV[2]  now, seconds since the epoch (history buckets older than their
--          tier keeps are not written)
-- ARGV[3]  buckets per history chunk (keys.ROLLUP_CHUNK)
-- ARGV[4]  TTL in seconds a bucket hash gets once rolled up, if it waited
--          for seal.lua (which would have given it)
-- ARGV[5]  number of history tiers, then seconds and keep (s) of each
--
-- Once a bucket hash is rolled up it carries ROLLED_FIELD, and from then on
-- ingest rolls up each new reading landing in it: so this script does
-- nothing to a marked hash (running it twice, or after seal.lua, counts
-- nothing twice), nor to a hash of an older gen than the sensor's (a DELETE
-- orphaned it; its readings no longer count). An unmarked hash around now
-- may be one that seal.lua would roll up later (the statistics field
-- UNSEALED points at it, and ingest left its TTL alone): rolled up here
-- instead, it gets the TTL seal.lua gives. Returns how many readings it
-- rolled up.
local stats = redis.call('HMGET', KEYS[2], {{SensorStats.GEN}}, {{SensorStats.UNSEALED}})
local gen = stats[1] or '0'
local prefix = KEYS[2] .. {{READINGS_SUFFIX}} .. gen .. {{SEPARATOR}}
local bucket_key = KEYS[1]
if bucket_key:sub(1, #prefix) ~= prefix or redis.call('HEXISTS', bucket_key, {{ROLLED_FIELD}}) == 1 then
  return 0
end
local number = tonumber(bucket_key:sub(#prefix + 1))
local readings = redis.call('HGETALL', bucket_key)
-- An expired (or never written) hash: nothing to roll up, and no marker
-- written, which would make a key without a TTL.
if not number or #readings == 0 then
  return 0
end
local base = number * tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local chunk_size = tonumber(ARGV[3])
local tiers = rollup_tiers(5)
local deltas, order = rollup_deltas(tiers)
-- Every tier's buckets hold whole bucket hashes: one delta serves them all.
local aligned = true
for t = 1, #tiers do
  if tiers[t].us % tonumber(ARGV[1]) ~= 0 then aligned = false end
end
local delta = aligned and rollup_new_delta() or nil
local rolled = 0
for j = 1, #readings, 2 do
  if readings[j] ~= {{ROLLED_FIELD}} then
    rolled = rolled + 1
    local at, value = base + tonumber(readings[j]), tonumber(readings[j + 1])
    if delta then
      rollup_delta_add(delta, at, value)
    else
      rollup_gather(tiers, deltas, order, at, value)
    end
  end
end
if delta then
  rollup_gather_delta(tiers, deltas, order, base, delta)
end
rollup_write(KEYS[2] .. {{ROLLUP_SUFFIX}}, gen, tiers, deltas, order, chunk_size, now)
redis.call('HSET', bucket_key, {{ROLLED_FIELD}}, '1')
local unsealed = tonumber(stats[2])
if (unsealed and number >= unsealed) or redis.call('TTL', bucket_key) < 0 then
  redis.call('EXPIRE', bucket_key, ARGV[4])
end
return rolled
