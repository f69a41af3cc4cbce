-- Copy an org's settings into one of its sites' record, unless a newer
-- copy is there already.
--
-- KEYS[1]  site:{<id>}  the site's record hash
-- ARGV     org id, settings version, unit, time zone, threshold (°C)
--
-- The copy (fields org_copy, org_version, org_unit, org_timezone,
-- org_threshold) lets one script on the site's hash tag answer
-- GET /v1/admin/toohotornot without reading the org. Writers race (an org
-- update fanning out, a site changing org, a lazy refresh on read): the
-- version makes the newest settings win whatever the arrival order.
--
-- Returns 1 when copied, 0 when the site does not exist, belongs to
-- another org or holds a newer copy (nothing changed).
local site = redis.call('HMGET', KEYS[1], {{SiteRecord.ORG}}, {{SiteRecord.ORG_COPY}}, {{SiteRecord.ORG_VERSION}})
if site[1] ~= ARGV[1] then
  return 0
end
if site[2] == ARGV[1] and tonumber(site[3]) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], {{SiteRecord.ORG_COPY}}, ARGV[1], {{SiteRecord.ORG_VERSION}}, ARGV[2],
  {{SiteRecord.ORG_UNIT}}, ARGV[3], {{SiteRecord.ORG_TIMEZONE}}, ARGV[4], {{SiteRecord.ORG_THRESHOLD}}, ARGV[5])
return 1
