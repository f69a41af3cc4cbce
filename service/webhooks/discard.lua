--include service/webhooks/dead.lua
-- Discard dead letters: on request, or those of a webhook being deleted.
--
-- KEYS[1] {events}:dead  KEYS[2] {events}:dead:index
-- ARGV members
-- Returns how many there were.
local discarded = 0
for _, member in ipairs(ARGV) do
  if remove_dead_letter(KEYS[1], KEYS[2], member) then
    discarded = discarded + 1
  end
end
return discarded
