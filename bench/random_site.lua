-- wrk script: the too-hot answer of a random site among bench/toohot.py's 1,000.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/v1/admin/toohotornot?siteId=bench-site%05d", math.random(0, 999)))
end
