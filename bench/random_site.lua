-- wrk script: the too-hot answer of a random site among bench/toohot.py's 1,000.
-- Requests are formatted once, so picking one costs wrk almost nothing.
local requests = {}

init = function(args)
  for i = 0, 999 do
    requests[i + 1] = wrk.format("GET", string.format("/v1/admin/toohotornot?siteId=bench-site%05d", i))
  end
  math.randomseed(os.time())
end

request = function()
  return requests[math.random(1, #requests)]
end
