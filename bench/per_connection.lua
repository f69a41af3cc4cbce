-- wrk script: one connection per wrk thread (run with -tN -cN) and a count
-- of the answers each connection got, printed at the end as
-- "per-connection: n1 n2 ...". A connection the server starves gets few.
-- Optional arguments: a path format and a count, as random_path.lua.
local threads = {}
local requests = {}
answers = 0

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  if args[1] then
    local format, count = args[1], tonumber(args[2] or "1000")
    for i = 0, count - 1 do
      requests[i + 1] = wrk.format("GET", string.format(format, i))
    end
    math.randomseed(os.time())
  end
end

request = function()
  if #requests > 0 then
    return requests[math.random(1, #requests)]
  end
  return wrk.request()
end

response = function(status, headers, body)
  answers = answers + 1
end

done = function(summary, latency, requests_)
  local counts = {}
  for _, thread in ipairs(threads) do
    table.insert(counts, tostring(thread:get("answers")))
  end
  io.write("per-connection: " .. table.concat(counts, " ") .. "\n")
end
