-- Exact sums of doubles, included (`--include service/exactsum.lua`) by
-- every script that sums readings (service/exactsum.py reads them; one
-- source for ingest, window, series).
--
-- A sum is {low, high}: two lists of non-overlapping partials, smallest
-- magnitude first, as Shewchuk's algorithm keeps them (Python's math.fsum):
-- their exact total is sum(low) + 2^128 * sum(high). Values below 2^900 in
-- magnitude go to low as they are; larger ones go to high scaled by 2^-128,
-- which is exact (they stay far from the subnormals). Fewer than 2^53
-- values then keep every partial and every intermediate below 2^953: no
-- sum overflows, whatever the values and their order.
--
-- Stored packed (struct, little-endian): two bytes, the numbers of low and
-- high partials, then the partials as doubles. Packing costs a tenth of
-- formatting and parsing them as text (%.17g and tonumber).
local EXACT_HIGH = 2 ^ 900
local EXACT_SCALE = 2 ^ -128
local EXACT_FORMATS = {}

-- Add values[1..count] to the sum, exactly: TwoSum of each value with each
-- partial in turn, the nonzero errors kept as the new partials (math.fsum's
-- inner loop). One call per sensor, not per value, with abs inlined: this
-- is the hot path of POST /data.
local function exact_add(sum, values, count)
  local low, high = sum[1], sum[2]
  local n_low, n_high = #low, #high
  for v = 1, count do
    local x = values[v]
    local partials, n
    if x < EXACT_HIGH and x > -EXACT_HIGH then
      partials, n = low, n_low
    else
      partials, n, x = high, n_high, x * EXACT_SCALE
    end
    local kept = 0
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
    if partials == low then n_low = kept else n_high = kept end
  end
end

local function exact_format(n)
  local format = EXACT_FORMATS[n]
  if not format then
    format = '<BB' .. string.rep('d', n)
    EXACT_FORMATS[n] = format
  end
  return format
end

-- A sum from its packed form (nil: an empty sum).
local function exact_unpack(packed)
  local low, high = {}, {}
  if packed then
    local n_low, n_high = struct.unpack('<BB', packed)
    local fields = {struct.unpack(exact_format(n_low + n_high), packed)}
    for j = 1, n_low do low[j] = fields[2 + j] end
    for j = 1, n_high do high[j] = fields[2 + n_low + j] end
  end
  return {low, high}
end

local function exact_pack(sum)
  local low, high = sum[1], sum[2]
  local n_low, n_high = #low, #high
  if n_high == 0 and n_low <= 2 then  -- the usual case, without a table
    if n_low == 2 then return struct.pack('<BBdd', 2, 0, low[1], low[2]) end
    if n_low == 1 then return struct.pack('<BBd', 1, 0, low[1]) end
  end
  local fields = {}
  for j = 1, n_low do fields[j] = low[j] end
  for j = 1, n_high do fields[n_low + j] = high[j] end
  return struct.pack(exact_format(n_low + n_high), n_low, n_high, unpack(fields))
end

-- Whether every partial is a finite number (false only for a sum stored
-- before exact sums, as one double, that overflowed).
local function exact_finite(sum)
  for _, partials in ipairs(sum) do
    for j = 1, #partials do
      local p = partials[j]
      if p ~= p or p == math.huge or p == -math.huge then return false end
    end
  end
  return true
end
