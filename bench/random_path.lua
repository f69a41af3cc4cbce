-- wrk script: GET a random one of N paths made from a format, e.g.
--   wrk -s bench/random_path.lua http://127.0.0.1:8080 -- /statistics/sensor-%05d 1000
-- Requests are formatted once, so picking one costs wrk almost nothing (wrk
-- shares the machine's cores with the server it measures).
local requests = {}

init = function(args)
  local format, count = args[1], tonumber(args[2] or "1000")
  for i = 0, count - 1 do
    requests[i + 1] = wrk.format("GET", string.format(format, i))
  end
  math.randomseed(os.time())
end

request = function()
  return requests[math.random(1, #requests)]
end
