-- Add a post's live entries to a site, all or nothing.
--
-- KEYS[1]  site:{<id>}        record hash (must exist)
-- KEYS[2]  site:{<id>}:live   sorted set: score = instant (us), member = entry JSON
-- ARGV[1]  retention cutoff (us): entries before it are removed; '-inf' keeps all
-- then     instant, entry, instant, entry, ... (instants distinct within a post,
--          none before the cutoff)
--
-- An instant already holding an entry is a duplicate: the stored entry
-- stays (first copy wins). Returns -1 for an unknown site (nothing
-- written), else the number of entries added.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local added = 0
for i = 2, #ARGV, 2 do
  if #redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[i], ARGV[i], 'LIMIT', 0, 1) == 0 then
    redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
    added = added + 1
  end
end
if ARGV[1] ~= '-inf' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
end
return added
