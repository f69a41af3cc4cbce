-- History buckets: packing, merging and writing (included, after
-- exactsum.lua, by the ingest and backfill scripts; service/history/codec.py
-- reads them).
--
-- A bucket holds count, exact sum, min, max, and the first and last reading
-- (offset from the bucket start, value) of a sensor's distinct readings in
-- one bucket of a tier. Packed with struct, little-endian, as small as the
-- data allows (about 25 bytes for an hour of minute readings):
--   byte H1: bits 0-1 count width (B, H, I4, d); bits 2-3 offsets (seconds
--            as I2 or I3, microseconds as I4 or I6); bit 4 values are
--            decimal; bits 5-6 width of the first value's mantissa.
--   byte H2: decimal values: bits 0-1 width of the three differences, bits
--            2-7 the shared decimal exponent + 32; else 0.
--   count; first offset; (bucket length - 1 unit - last offset);
--   values: decimal: the first value's mantissa, then last, min and max as
--            differences from it (signed widths i1, i2, i4, i7); else the
--            four values as doubles;
--   sum: byte S = low partials (bits 0-2, at most 6) + 8 * high partials
--        (bits 3-5) + 64 * how many of the smallest low partials are floats
--        (bits 6-7), then the partials (floats, then doubles), smallest
--        first; S = 255: two bytes of counts, then every partial as a
--        double. S with bits 0-2 = 7 (and not 255): the largest of one or
--        two low partials as a decimal: bits 3-4 its mantissa's width,
--        bit 5 a smaller partial follows, bit 6 it is a float; then the
--        exponent (signed byte), the mantissa, the smaller partial. A sum
--        of short decimals is nearly always the double nearest a short
--        decimal: 1282.2, two bytes instead of eight.
-- Decimal values are the shortest decimal that reads back as the value, as
-- integer mantissa and exponent: 21.37 is 2137e-2, exact, in two bytes. A
-- bucket with a value that has none (more than 15 fraction digits, or a
-- mantissa of 2^52 or more) holds doubles. Merging works on doubles; only
-- packing looks for decimals.
local ROLLUP_COUNT_FORMATS = {'B', 'H', 'I4', 'd'}
local ROLLUP_OFFSET_FORMATS = {'I2', 'I3', 'I4', 'I6'}
local ROLLUP_INT_FORMATS = {'i1', 'i2', 'i4', 'i7'}
local ROLLUP_INT_LIMITS = {128, 32768, 2147483648, 2 ^ 53}
-- Mantissas stay below this, so differences of two are exact doubles.
local ROLLUP_MANTISSA_LIMIT = 2 ^ 52
local ROLLUP_POW10 = {}
for k = 0, 22 do ROLLUP_POW10[k] = 10 ^ k end  -- exact doubles
local ROLLUP_DECODE_FORMATS, ROLLUP_ENCODE_FORMATS = {}, {}

local function rollup_int_width(x)
  if x < 0 then x = -x - 1 end
  for w = 1, 4 do
    if x < ROLLUP_INT_LIMITS[w] then return w end
  end
  return 4
end

-- (mantissa, exponent) of the shortest decimal that reads back as v, or nil
-- when it has more than 15 fraction digits or too large a mantissa. M / 10^k
-- divides two exact doubles, so it is the double nearest M e-k: equal to v
-- exactly when that decimal reads back as v.
local function rollup_decimal(v)
  for k = 0, 15 do
    local p = ROLLUP_POW10[k]
    local m = v * p
    if m >= ROLLUP_MANTISSA_LIMIT or m <= -ROLLUP_MANTISSA_LIMIT then return nil end
    local mantissa = math.floor(m + 0.5)
    if mantissa / p == v then
      if k > 0 or mantissa == 0 then return mantissa, -k end
      local e = 0
      while e < 22 and mantissa % 10 == 0 do mantissa, e = mantissa / 10, e + 1 end
      return mantissa, e
    end
  end
  return nil
end

local function rollup_from_decimal(mantissa, e)
  if e < 0 then return mantissa / ROLLUP_POW10[-e] end
  return mantissa * ROLLUP_POW10[e]
end

-- A bucket from its packed form: {n, f_at, l_at, f, l, lo, hi, sum}
-- (offsets in microseconds from the bucket start; values doubles).
local function rollup_decode(packed, bucket_us)
  local h1, h2 = struct.unpack('<BB', packed)
  local key = h1 * 256 + h2 % 4
  local format = ROLLUP_DECODE_FORMATS[key]
  if not format then
    local off = ROLLUP_OFFSET_FORMATS[math.floor(h1 / 4) % 4 + 1]
    format = '<BB' .. ROLLUP_COUNT_FORMATS[h1 % 4 + 1] .. off .. off
    if math.floor(h1 / 16) % 2 == 1 then
      local d = ROLLUP_INT_FORMATS[h2 % 4 + 1]
      format = format .. ROLLUP_INT_FORMATS[math.floor(h1 / 32) % 4 + 1] .. d .. d .. d
    else
      format = format .. 'dddd'
    end
    ROLLUP_DECODE_FORMATS[key] = format .. 'B'
    format = ROLLUP_DECODE_FORMATS[key]
  end
  local _, _, n, fo, lo_off, a, b, c, d, s, pos = struct.unpack(format, packed)
  local unit = math.floor(h1 / 4) % 4 <= 1 and 1000000 or 1
  local bucket = {n = n, f_at = fo * unit, l_at = bucket_us - unit - lo_off * unit}
  if math.floor(h1 / 16) % 2 == 1 then
    local e = math.floor(h2 / 4) - 32
    bucket.f, bucket.l = rollup_from_decimal(a, e), rollup_from_decimal(a + b, e)
    bucket.lo, bucket.hi = rollup_from_decimal(a + c, e), rollup_from_decimal(a + d, e)
  else
    bucket.f, bucket.l, bucket.lo, bucket.hi = a, b, c, d
  end
  local low, high = {}, {}
  if s == 255 then
    local n_low, n_high
    n_low, n_high, pos = struct.unpack('<BB', packed, pos)
    for j = 1, n_low do low[j], pos = struct.unpack('<d', packed, pos) end
    for j = 1, n_high do high[j], pos = struct.unpack('<d', packed, pos) end
  elseif s % 8 == 7 then
    local e, mantissa
    e, mantissa, pos = struct.unpack('<b' .. ROLLUP_INT_FORMATS[math.floor(s / 8) % 4 + 1], packed, pos)
    if math.floor(s / 32) % 2 == 1 then
      low[1], pos = struct.unpack(math.floor(s / 64) == 1 and '<f' or '<d', packed, pos)
    end
    low[#low + 1] = rollup_from_decimal(mantissa, e)
  else
    local n_low, n_high, floats = s % 8, math.floor(s / 8) % 8, math.floor(s / 64)
    for j = 1, n_low do low[j], pos = struct.unpack(j <= floats and '<f' or '<d', packed, pos) end
    for j = 1, n_high do high[j], pos = struct.unpack('<d', packed, pos) end
  end
  bucket.sum = {low, high}
  return bucket
end

local function rollup_is_float(x)
  return struct.unpack('<f', struct.pack('<f', x)) == x
end

-- The four values as one exponent and mantissas, or nil.
local function rollup_decimals(bucket)
  local fm, fe = rollup_decimal(bucket.f)
  if not fm then return nil end
  local lm, le = rollup_decimal(bucket.l)
  if not lm then return nil end
  local lom, loe = rollup_decimal(bucket.lo)
  if not lom then return nil end
  local him, hie = rollup_decimal(bucket.hi)
  if not him then return nil end
  local e = math.min(fe, le, loe, hie)
  if e < -32 or e > 31 then return nil end
  if fe ~= e then fm = fm * ROLLUP_POW10[fe - e] end
  if le ~= e then lm = lm * ROLLUP_POW10[le - e] end
  if loe ~= e then lom = lom * ROLLUP_POW10[loe - e] end
  if hie ~= e then him = him * ROLLUP_POW10[hie - e] end
  local limit = ROLLUP_MANTISSA_LIMIT
  if fm >= limit or fm <= -limit or lm >= limit or lm <= -limit or lom >= limit or lom <= -limit
      or him >= limit or him <= -limit then
    return nil
  end
  return e, fm, lm, lom, him
end

local function rollup_encode(bucket, bucket_us)
  local n = bucket.n
  local count_w = n < 256 and 1 or (n < 65536 and 2 or (n < 4294967296 and 3 or 4))
  local fo, lo_off = bucket.f_at, bucket_us - 1 - bucket.l_at
  local offset_w
  if fo % 1000000 == 0 and bucket.l_at % 1000000 == 0 then
    fo, lo_off = fo / 1000000, (bucket_us - 1000000 - bucket.l_at) / 1000000
    offset_w = (fo < 65536 and lo_off < 65536) and 1 or 2
  else
    offset_w = (fo < 4294967296 and lo_off < 4294967296) and 3 or 4
  end
  local low, high = bucket.sum[1], bucket.sum[2]
  local n_low, n_high = #low, #high
  local floats, s = 0, 255
  local top_m, top_e
  if n_high == 0 and (n_low == 1 or n_low == 2) then
    top_m, top_e = rollup_decimal(low[n_low])
  end
  if top_m then
    s = 7 + 8 * (rollup_int_width(top_m) - 1)
    if n_low == 2 then
      s = s + 32 + (rollup_is_float(low[1]) and 64 or 0)
    end
  elseif n_low <= 6 and n_high <= 6 then
    while floats < 3 and floats < n_low and rollup_is_float(low[floats + 1]) do floats = floats + 1 end
    s = n_low + 8 * n_high + 64 * floats
  end
  local h1, h2 = (count_w - 1) + 4 * (offset_w - 1), 0
  local e, f, l, lo, hi = rollup_decimals(bucket)
  if e then
    l, lo, hi = l - f, lo - f, hi - f
    local diff_w = math.max(rollup_int_width(l), rollup_int_width(lo), rollup_int_width(hi))
    h1 = h1 + 16 + 32 * (rollup_int_width(f) - 1)
    h2 = (diff_w - 1) + 4 * (e + 32)
  else
    f, l, lo, hi = bucket.f, bucket.l, bucket.lo, bucket.hi
  end
  local key = ((h1 * 4 + h2 % 4) * 256 + s) * 4096 + (s == 255 and n_low + 64 * n_high or 0)
  local format = ROLLUP_ENCODE_FORMATS[key]
  if not format then
    local off = ROLLUP_OFFSET_FORMATS[offset_w]
    format = '<BB' .. ROLLUP_COUNT_FORMATS[count_w] .. off .. off
    if e then
      local d = ROLLUP_INT_FORMATS[h2 % 4 + 1]
      format = format .. ROLLUP_INT_FORMATS[math.floor(h1 / 32) % 4 + 1] .. d .. d .. d
    else
      format = format .. 'dddd'
    end
    if s == 255 then
      format = format .. 'BBB' .. string.rep('d', n_low + n_high)
    elseif top_m then
      format = format .. 'Bb' .. ROLLUP_INT_FORMATS[math.floor(s / 8) % 4 + 1]
      if n_low == 2 then format = format .. (s >= 64 and 'f' or 'd') end
    else
      format = format .. 'B' .. string.rep('f', floats) .. string.rep('d', n_low - floats + n_high)
    end
    ROLLUP_ENCODE_FORMATS[key] = format
  end
  if top_m then  -- the usual case, without a table
    if n_low == 2 then return struct.pack(format, h1, h2, n, fo, lo_off, f, l, lo, hi, s, top_e, top_m, low[1]) end
    return struct.pack(format, h1, h2, n, fo, lo_off, f, l, lo, hi, s, top_e, top_m)
  end
  if s ~= 255 and n_high == 0 then
    if n_low == 1 then return struct.pack(format, h1, h2, n, fo, lo_off, f, l, lo, hi, s, low[1]) end
    if n_low == 2 then return struct.pack(format, h1, h2, n, fo, lo_off, f, l, lo, hi, s, low[1], low[2]) end
  end
  local parts = {h1, h2, n, fo, lo_off, f, l, lo, hi, s}
  if s == 255 then parts[11], parts[12] = n_low, n_high end
  for j = 1, n_low do parts[#parts + 1] = low[j] end
  for j = 1, n_high do parts[#parts + 1] = high[j] end
  return struct.pack(format, unpack(parts))
end

-- New readings of one bucket, gathered before they are merged: {n, values
-- and nv (values not yet in sum), sum (exact, of the others), f_at, f, l_at,
-- l, lo, hi}, instants absolute (us).
local function rollup_delta_add(delta, at, value)
  local n = delta.n + 1
  delta.n = n
  local nv = delta.nv + 1
  delta.nv = nv
  delta.values[nv] = value
  if n == 1 then
    delta.f_at, delta.f, delta.l_at, delta.l, delta.lo, delta.hi = at, value, at, value, value, value
    return
  end
  if at < delta.f_at then delta.f_at, delta.f = at, value end
  if at > delta.l_at then delta.l_at, delta.l = at, value end
  if value < delta.lo then delta.lo = value end
  if value > delta.hi then delta.hi = value end
end

local function rollup_new_delta()
  return {n = 0, nv = 0, values = {}, sum = { {}, {} } }
end

-- Add an exact sum's partials to another's: exact, and far cheaper than
-- adding the values again (a tier merges an hour's sum, not its readings).
local function rollup_add_sum(sum, other)
  local low, high = other[1], other[2]
  if #low > 0 then exact_add(sum, low, #low) end
  -- High partials are already scaled: add them as the low list of a pair.
  if #high > 0 then exact_add({sum[2], {} }, high, #high) end
end

-- The delta's exact sum, with every value gathered so far.
local function rollup_delta_sum(delta)
  if delta.nv > 0 then
    exact_add(delta.sum, delta.values, delta.nv)
    delta.values, delta.nv = {}, 0
  end
  return delta.sum
end

-- Add one delta's readings to another's.
local function rollup_delta_combine(into, delta)
  local n = into.n
  into.n = n + delta.n
  rollup_add_sum(into.sum, rollup_delta_sum(delta))
  if n == 0 then
    into.f_at, into.f, into.l_at, into.l, into.lo, into.hi = delta.f_at, delta.f, delta.l_at, delta.l, delta.lo, delta.hi
    return
  end
  if delta.f_at < into.f_at then into.f_at, into.f = delta.f_at, delta.f end
  if delta.l_at > into.l_at then into.l_at, into.l = delta.l_at, delta.l end
  if delta.lo < into.lo then into.lo = delta.lo end
  if delta.hi > into.hi then into.hi = delta.hi end
end

-- Merge a delta into a bucket starting at start (us; bucket nil: a new
-- one); returns the bucket.
local function rollup_merge(bucket, delta, start)
  local f_at, l_at = delta.f_at - start, delta.l_at - start
  if bucket == nil then
    bucket = {n = delta.n, f_at = f_at, l_at = l_at, f = delta.f, l = delta.l, lo = delta.lo, hi = delta.hi,
      sum = { {}, {} } }
  else
    bucket.n = bucket.n + delta.n
    if f_at < bucket.f_at then bucket.f_at, bucket.f = f_at, delta.f end
    if l_at > bucket.l_at then bucket.l_at, bucket.l = l_at, delta.l end
    if delta.lo < bucket.lo then bucket.lo = delta.lo end
    if delta.hi > bucket.hi then bucket.hi = delta.hi end
  end
  rollup_add_sum(bucket.sum, rollup_delta_sum(delta))
  return bucket
end

-- The history tiers of one call: {us, seconds, keep (s)} from ARGV[pos..]
-- (number of tiers, then seconds and keep of each); returns tiers, next pos.
local function rollup_tiers(pos)
  local tiers = {}
  for t = 1, tonumber(ARGV[pos]) do
    local seconds = tonumber(ARGV[pos + 2 * t - 1])
    tiers[t] = {us = seconds * 1000000, seconds = seconds, keep = tonumber(ARGV[pos + 2 * t])}
  end
  return tiers, pos + 1 + 2 * #tiers
end

-- Empty deltas and order of each tier, for rollup_gather.
local function rollup_deltas(tiers)
  local deltas, order = {}, {}
  for t = 1, #tiers do deltas[t], order[t] = {}, {} end
  return deltas, order
end

-- Gather a new reading (instant in us, value) into each tier's deltas
-- (deltas[t][bucket number], order[t] the bucket numbers in first-seen order).
-- The delta of tier t's bucket holding instant at (us), made when new.
local function rollup_delta_at(tiers, deltas, order, t, at)
  local number = math.floor(at / tiers[t].us)
  local delta = deltas[t][number]
  if delta == nil then
    delta = rollup_new_delta()
    deltas[t][number] = delta
    order[t][#order[t] + 1] = number
  end
  return delta
end

local function rollup_gather(tiers, deltas, order, at, value)
  for t = 1, #tiers do
    rollup_delta_add(rollup_delta_at(tiers, deltas, order, t, at), at, value)
  end
end

-- Gather a whole bucket hash's readings (a delta) into each tier's deltas:
-- the tiers' buckets must be multiples of the bucket hash's span (raw_us).
local function rollup_gather_delta(tiers, deltas, order, start, delta)
  for t = 1, #tiers do
    rollup_delta_combine(rollup_delta_at(tiers, deltas, order, t, start), delta)
  end
end

-- Merge the gathered deltas into the sensor's tier chunks: key prefix
-- sensor:{id}:h: ; gen the sensor's clear generation; now in seconds.
-- A bucket older than its tier keeps is not written.
local function rollup_write(prefix, gen, tiers, deltas, order, chunk_size, now)
  for t = 1, #tiers do
    local tier = tiers[t]
    local tier_prefix = prefix .. tier.seconds .. {{SEPARATOR}} .. gen .. {{SEPARATOR}}
    for _, number in ipairs(order[t]) do
      local expires = (number + 1) * tier.seconds + tier.keep
      if expires > now then
        local chunk = math.floor(number / chunk_size)
        local field = number - chunk * chunk_size
        local key = tier_prefix .. string.format('%d', chunk)
        local found = redis.call('HMGET', key, field, {{ROLLUP_VERSION_FIELD}})
        local packed = found[1]
        local bucket = rollup_merge(packed and rollup_decode(packed, tier.us) or nil, deltas[t][number], number * tier.us)
        local encoded = rollup_encode(bucket, tier.us)
        -- The chunk's version chains a hash of every write: equal versions,
        -- equal contents, whichever write reached them (a chunk rewritten
        -- from scratch the same way gets the same version).
        local version = string.sub(redis.sha1hex((found[2] or '') .. field .. '=' .. encoded), 1, 16)
        if redis.call('HSET', key, field, encoded, {{ROLLUP_VERSION_FIELD}}, version) > 0 then
          redis.call('EXPIREAT', key, string.format('%d', (chunk + 1) * chunk_size * tier.seconds + tier.keep))
        end
      end
    end
  end
end
