-- Kind, input unit and org of the sensors named in KEYS (read only).
--
-- KEYS[i]  sensor:{<id>}:meta  (all in one slot on a cluster, grouped like ingest calls)
-- Returns kind, input_unit, org of each key in KEYS order ('' when absent):
-- one command per batch instead of one per sensor, and one read serves both
-- the org check and the unit conversion of POST /data.
local reply = {}
for i = 1, #KEYS do
  local meta = redis.call('HMGET', KEYS[i], {{SensorMeta.KIND}}, {{SensorMeta.INPUT_UNIT}},
    {{SensorMeta.ORG}})
  reply[3 * i - 2] = meta[1] or ''
  reply[3 * i - 1] = meta[2] or ''
  reply[3 * i] = meta[3] or ''
end
return reply
