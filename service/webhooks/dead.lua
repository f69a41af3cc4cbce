-- Removing a dead letter, included (`--include`) by replay.lua and
-- discard.lua: from {events}:dead, its order {events}:dead:index and the
-- index of the org recorded in it ({events}:dead:index:<org>, derived from
-- the index's name, same tag). Returns the dead letter's JSON, or nil when
-- there is no such dead letter.
local function remove_dead_letter(dead, index, member)
  local letter = redis.call('HGET', dead, member)
  if not letter then
    return nil
  end
  redis.call('HDEL', dead, member)
  redis.call('ZREM', index, member)
  local org = cjson.decode(letter).org
  if type(org) == 'string' and org ~= '' then
    redis.call('ZREM', index .. {{SEPARATOR}} .. org, member)
  end
  return letter
end
