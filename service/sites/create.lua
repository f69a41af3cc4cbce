-- Create a site record unless one with its id exists.
--
-- KEYS[1]  site:{<id>}  the site's record hash
-- ARGV     field, value, field, value, ... of the new record
--
-- Returns 1 when created, 0 when the id is taken (nothing changed).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
