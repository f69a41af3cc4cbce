-- wrk script: GET /statistics of a random sensor among bench/ingest.py's 1,000.
-- Requests are formatted once, so picking one costs wrk almost nothing (wrk
-- shares the machine's cores with the server it measures).
local requests = {}

init = function(args)
  for i = 0, 999 do
    requests[i + 1] = wrk.format("GET", string.format("/statistics/sensor-%05d", i))
  end
  math.randomseed(os.time())
end

request = function()
  return requests[math.random(1, #requests)]
end
