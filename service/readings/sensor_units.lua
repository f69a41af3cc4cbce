-- Kind and input unit of the sensors named in KEYS (read only).
--
-- KEYS[i]  sensor:{<id>}:meta  (all in one slot on a cluster, grouped like ingest calls)
-- Returns kind, input_unit of each key in KEYS order ('' when absent): one
-- command per batch instead of one per sensor.
local reply = {}
for i = 1, #KEYS do
  local meta = redis.call('HMGET', KEYS[i], 'kind', 'input_unit')
  reply[2 * i - 1] = meta[1] or ''
  reply[2 * i] = meta[2] or ''
end
return reply
