-- wrk script: GET /statistics of a random sensor among bench/ingest.py's 1,000.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/statistics/sensor-%05d", math.random(0, 999)))
end
