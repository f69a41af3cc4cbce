-- Store a site's configuration as a new version unless it equals the current one.
--
-- KEYS[1]  site:{<id>}         record hash (config_version, config_doc, config_from_us)
-- KEYS[2]  site:{<id>}:config  list of every version, oldest first
-- ARGV[1]  canonical JSON of the validated configuration (sorted keys)
-- ARGV[2]  server time now, microseconds since the epoch
--
-- valid_from is the server time, nudged one microsecond past the previous
-- version's when clocks of two replicas disagree, so versions stay ordered.
-- Returns {-1} for an unknown site, {0, version, valid_from_us} when the
-- document equals the current version, {1, version, valid_from_us} when stored.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
local current = redis.call('HMGET', KEYS[1], {{SiteRecord.CONFIG_VERSION}}, {{SiteRecord.CONFIG_DOC}},
  {{SiteRecord.CONFIG_FROM_US}})
if current[2] == ARGV[1] then
  return {0, tonumber(current[1]), current[3]}
end
local version = tonumber(current[1] or '0') + 1
local from_us = tonumber(ARGV[2])
if current[3] and tonumber(current[3]) >= from_us then
  from_us = tonumber(current[3]) + 1
end
local from_text = string.format('%d', from_us)
redis.call('RPUSH', KEYS[2],
  '{"version":' .. version .. ',"valid_from_us":' .. from_text .. ',"configuration":' .. ARGV[1] .. '}')
redis.call('HSET', KEYS[1], {{SiteRecord.CONFIG_VERSION}}, version, {{SiteRecord.CONFIG_DOC}}, ARGV[1],
  {{SiteRecord.CONFIG_FROM_US}}, from_text)
return {1, version, from_text}
