-- The version of each history chunk hash in KEYS (false where there is
-- none): a series checks its rendered copies of the chunks against them
-- (history/rendered.py). One call instead of one HGET per chunk: a year of
-- hourly buckets is 74 chunks.
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = redis.call('HGET', key, {{ROLLUP_VERSION_FIELD}})
end
return found
