-- Exact sums of doubles, prepended to every script that sums readings
-- (service/exactsum.py reads them; one source for ingest, window, series).
--
-- A sum is {low, high}: two lists of non-overlapping partials, smallest
-- magnitude first, as Shewchuk's algorithm keeps them (Python's math.fsum):
-- their exact total is sum(low) + 2^128 * sum(high). Values below 2^900 in
-- magnitude go to low as they are; larger ones go to high scaled by 2^-128,
-- which is exact (they stay far from the subnormals). Fewer than 2^53
-- values then keep every partial and every intermediate below 2^953: no
-- sum overflows, whatever the values and their order.
local EXACT_HIGH = 2 ^ 900
local EXACT_SCALE = 2 ^ -128

-- Add x to the sum, exactly: TwoSum of x with each partial in turn, the
-- nonzero errors kept as the new partials (math.fsum's inner loop, with
-- abs inlined: this runs once per new reading).
local function exact_add(sum, x)
  local partials
  if x < EXACT_HIGH and x > -EXACT_HIGH then
    partials = sum[1]
  else
    partials = sum[2]
    x = x * EXACT_SCALE
  end
  local n, kept = #partials, 0
  for j = 1, n do
    local y = partials[j]
    local ax, ay = x, y
    if ax < 0 then ax = -ax end
    if ay < 0 then ay = -ay end
    if ax < ay then x, y = y, x end
    local hi = x + y
    local lo = y - (hi - x)
    if lo ~= 0 then
      kept = kept + 1
      partials[kept] = lo
    end
    x = hi
  end
  kept = kept + 1
  partials[kept] = x
  for j = kept + 1, n do partials[j] = nil end
end

-- Partials from their text (nil or '' for none); %.17g round-trips a double.
local function exact_parse(text)
  local partials = {}
  if text then
    for word in string.gmatch(text, '%S+') do partials[#partials + 1] = tonumber(word) end
  end
  return partials
end

local function exact_text(partials)
  local words = {}
  for j = 1, #partials do words[j] = string.format('%.17g', partials[j]) end
  return table.concat(words, ' ')
end

-- Whether every partial is a finite number (false only for a sum stored
-- before exact sums, as one double, that overflowed).
local function exact_finite(partials)
  for j = 1, #partials do
    local p = partials[j]
    if p ~= p or p == math.huge or p == -math.huge then return false end
  end
  return true
end
