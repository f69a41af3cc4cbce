-- Retire the liveness of a MAC id once it was copied to the sensor the MAC
-- is registered to (the second step of HeartbeatStore.adopt_mac).
--
-- KEYS[1] sensor:{<mac>}:hb    KEYS[2] sensor:{<mac>}:meta
-- KEYS[3] sensor:{<mac>} (statistics)
-- ARGV[1] the MAC id's last heartbeat as copied (s; '' if none)
--
-- Returns {0, ''}: heard again since the copy (a heartbeat that looked the
-- MAC up before its registration): nothing retired, the next adoption
-- moves it. {1, ''}: the MAC id holds readings, so it stays a sensor of its
-- own; only its heartbeat (last_hb, mac) is gone. {2, org}: retired, its
-- liveness gone and, when it was only claimed by an org (never
-- registered), its metadata too; org is the org it was claimed by ('' if
-- none), whose index the caller leaves.
local hb, meta, stats = KEYS[1], KEYS[2], KEYS[3]
local last_hb = redis.call('HGET', hb, {{SensorHeartbeat.LAST_HB}})
if last_hb and (ARGV[1] == '' or tonumber(last_hb) > tonumber(ARGV[1])) then
  return {0, ''}
end
if tonumber(redis.call('HGET', stats, {{SensorStats.COUNT}}) or '0') > 0 then
  redis.call('HDEL', hb, {{SensorHeartbeat.LAST_HB}}, {{SensorHeartbeat.MAC}})
  return {1, ''}
end
redis.call('HDEL', hb, {{SensorHeartbeat.STATUS}}, {{SensorHeartbeat.SINCE}}, {{SensorHeartbeat.HEARD_AT}},
  {{SensorHeartbeat.LAST_HB}}, {{SensorHeartbeat.MAC}})
local org = ''
if redis.call('TYPE', meta)['ok'] == 'hash' and redis.call('HEXISTS', meta, {{SensorMeta.REGISTERED}}) == 0 then
  org = redis.call('HGET', meta, {{SensorMeta.ORG}}) or ''
  redis.call('DEL', meta)
end
return {2, org}
