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
--   sum: byte S = low partials (bits 0-2) + 8 * high partials (bits 3-5) +
--        64 * how many of the smallest low partials are floats (bits 6-7),
--        then the partials (floats, then doubles), smallest first; S = 255:
--        two bytes of counts, then every partial as a double.
-- Decimal values are the readings' shortest text (what the raw store holds)
-- as integer mantissa and exponent: 21.37 is 2137e-2, exact, in two bytes.
-- A value without such a form (more than 15 digits) makes the bucket hold
-- doubles.
local ROLLUP_COUNT_FORMATS = {'B', 'H', 'I4', 'd'}
local ROLLUP_OFFSET_FORMATS = {'I2', 'I3', 'I4', 'I6'}
local ROLLUP_INT_FORMATS = {'i1', 'i2', 'i4', 'i7'}
local ROLLUP_INT_LIMITS = {128, 32768, 2147483648, 2 ^ 53}
-- Mantissas stay below this, so differences of two are exact doubles.
local ROLLUP_MANTISSA_LIMIT = 2 ^ 52
local ROLLUP_FORMATS = {}

local function rollup_int_width(x)
  if x < 0 then x = -x - 1 end
  for w = 1, 4 do
    if x < ROLLUP_INT_LIMITS[w] then return w end
  end
  return 4
end

-- (mantissa, exponent) of a reading's text, or nil when it has none that
-- is exact in a double.
local function rollup_decimal(text)
  local sign, int, frac, exp = string.match(text, '^(%-?)(%d*)%.?(%d*)[eE]?([-+]?%d*)$')
  if not sign then return nil end
  local digits = (int .. frac):gsub('^0+', '')
  if digits == '' then return 0, 0 end
  local e = -#frac + (tonumber(exp) or 0)
  local trimmed = digits:gsub('0+$', '')
  e = e + (#digits - #trimmed)
  if #trimmed > 15 or e < -32 or e > 31 then return nil end
  local m = tonumber(trimmed)
  if sign == '-' then m = -m end
  return m, e
end

local function rollup_double(m, e)
  return tonumber(string.format('%.0fe%d', m, e))
end

-- A bucket from its packed form: {n, f_at, l_at, dec, e, f, l, lo, hi, sum}
-- (offsets in microseconds from the bucket start; values mantissas when
-- dec, else doubles).
local function rollup_decode(packed, bucket_us)
  local h1, h2 = struct.unpack('<BB', packed)
  local count_w = h1 % 4 + 1
  local offset_w = math.floor(h1 / 4) % 4 + 1
  local dec = math.floor(h1 / 16) % 2 == 1
  local first_w = math.floor(h1 / 32) % 4 + 1
  local key = h1 * 256 + h2
  local format = ROLLUP_FORMATS[key]
  if not format then
    local off = ROLLUP_OFFSET_FORMATS[offset_w]
    format = '<BB' .. ROLLUP_COUNT_FORMATS[count_w] .. off .. off
    if dec then
      local d = ROLLUP_INT_FORMATS[h2 % 4 + 1]
      format = format .. ROLLUP_INT_FORMATS[first_w] .. d .. d .. d
    else
      format = format .. 'dddd'
    end
    format = format .. 'B'
    ROLLUP_FORMATS[key] = format
  end
  local _, _, n, fo, lo_off, a, b, c, d, s, pos = struct.unpack(format, packed)
  local unit = offset_w <= 2 and 1000000 or 1
  local bucket = {n = n, f_at = fo * unit, l_at = bucket_us - unit - lo_off * unit, dec = dec}
  if dec then
    bucket.e = math.floor(h2 / 4) - 32
    bucket.f, bucket.l, bucket.lo, bucket.hi = a, a + b, a + c, a + d
  else
    bucket.f, bucket.l, bucket.lo, bucket.hi = a, b, c, d
  end
  local low, high = {}, {}
  if s == 255 then
    local n_low, n_high
    n_low, n_high, pos = struct.unpack('<BB', packed, pos)
    for j = 1, n_low do low[j], pos = struct.unpack('<d', packed, pos) end
    for j = 1, n_high do high[j], pos = struct.unpack('<d', packed, pos) end
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

local function rollup_encode(bucket, bucket_us)
  local n = bucket.n
  local count_w = n < 256 and 1 or (n < 65536 and 2 or (n < 4294967296 and 3 or 4))
  local fo, lo_off = bucket.f_at, bucket_us - 1 - bucket.l_at
  local offset_w
  if fo % 1000000 == 0 and (bucket.l_at % 1000000) == 0 then
    fo, lo_off = fo / 1000000, (bucket_us - 1000000 - bucket.l_at) / 1000000
    offset_w = (fo < 65536 and lo_off < 65536) and 1 or 2
  else
    offset_w = (fo < 4294967296 and lo_off < 4294967296) and 3 or 4
  end
  local off = ROLLUP_OFFSET_FORMATS[offset_w]
  local parts, format
  local h1 = (count_w - 1) + 4 * (offset_w - 1)
  if bucket.dec then
    local f = bucket.f
    local dl, dlo, dhi = bucket.l - f, bucket.lo - f, bucket.hi - f
    local first_w = rollup_int_width(f)
    local diff_w = math.max(rollup_int_width(dl), rollup_int_width(dlo), rollup_int_width(dhi))
    h1 = h1 + 16 + 32 * (first_w - 1)
    local h2 = (diff_w - 1) + 4 * (bucket.e + 32)
    local d = ROLLUP_INT_FORMATS[diff_w]
    format = '<BB' .. ROLLUP_COUNT_FORMATS[count_w] .. off .. off .. ROLLUP_INT_FORMATS[first_w] .. d .. d .. d
    parts = {h1, h2, n, fo, lo_off, f, dl, dlo, dhi}
  else
    format = '<BB' .. ROLLUP_COUNT_FORMATS[count_w] .. off .. off .. 'dddd'
    parts = {h1, 0, n, fo, lo_off, bucket.f, bucket.l, bucket.lo, bucket.hi}
  end
  local low, high = bucket.sum[1], bucket.sum[2]
  local n_low, n_high = #low, #high
  if n_low > 6 or n_high > 6 then
    format = format .. 'BBB' .. string.rep('d', n_low + n_high)
    parts[#parts + 1], parts[#parts + 2], parts[#parts + 3] = 255, n_low, n_high
  else
    local floats = 0
    while floats < 3 and floats < n_low and rollup_is_float(low[floats + 1]) do floats = floats + 1 end
    format = format .. 'B' .. string.rep('f', floats) .. string.rep('d', n_low - floats + n_high)
    parts[#parts + 1] = n_low + 8 * n_high + 64 * floats
  end
  for j = 1, n_low do parts[#parts + 1] = low[j] end
  for j = 1, n_high do parts[#parts + 1] = high[j] end
  return struct.pack(format, unpack(parts))
end

-- The bucket's values as doubles (a bucket that meets a value with no
-- short decimal form).
local function rollup_to_doubles(bucket)
  if bucket.dec then
    local e = bucket.e
    bucket.f, bucket.l = rollup_double(bucket.f, e), rollup_double(bucket.l, e)
    bucket.lo, bucket.hi = rollup_double(bucket.lo, e), rollup_double(bucket.hi, e)
    bucket.dec, bucket.e = false, nil
  end
end

-- Rescale the bucket's mantissas to exponent e (<= its own); false when a
-- mantissa would reach ROLLUP_MANTISSA_LIMIT.
local function rollup_rescale(bucket, e)
  if e == bucket.e then return true end
  local scale = 10 ^ (bucket.e - e)
  local f, l, lo, hi = bucket.f * scale, bucket.l * scale, bucket.lo * scale, bucket.hi * scale
  for _, m in ipairs({f, l, lo, hi}) do
    if m >= ROLLUP_MANTISSA_LIMIT or m <= -ROLLUP_MANTISSA_LIMIT then return false end
  end
  bucket.f, bucket.l, bucket.lo, bucket.hi, bucket.e = f, l, lo, hi, e
  return true
end

-- New readings of one bucket, gathered before they are merged: {n, values
-- (doubles, for the sum), f_at, f (text), l_at, l, lo_v, lo, hi_v, hi}.
local function rollup_delta_add(delta, at, text, value)
  local n = delta.n + 1
  delta.n = n
  delta.values[n] = value
  if n == 1 then
    delta.f_at, delta.f, delta.l_at, delta.l = at, text, at, text
    delta.lo_v, delta.lo, delta.hi_v, delta.hi = value, text, value, text
    return
  end
  if at < delta.f_at then delta.f_at, delta.f = at, text end
  if at > delta.l_at then delta.l_at, delta.l = at, text end
  if value < delta.lo_v then delta.lo_v, delta.lo = value, text end
  if value > delta.hi_v then delta.hi_v, delta.hi = value, text end
end

-- The delta's four texts as one decimal bucket part {e, f, l, lo, hi}, or nil.
local function rollup_delta_decimal(delta)
  local fm, fe = rollup_decimal(delta.f)
  local lm, le = rollup_decimal(delta.l)
  local lom, loe = rollup_decimal(delta.lo)
  local him, hie = rollup_decimal(delta.hi)
  if not (fm and lm and lom and him) then return nil end
  local e = math.min(fe, le, loe, hie)
  local part = {f = fm * 10 ^ (fe - e), l = lm * 10 ^ (le - e), lo = lom * 10 ^ (loe - e), hi = him * 10 ^ (hie - e), e = e}
  for _, m in ipairs({part.f, part.l, part.lo, part.hi}) do
    if m >= ROLLUP_MANTISSA_LIMIT or m <= -ROLLUP_MANTISSA_LIMIT then return nil end
  end
  return part
end

-- Merge a delta into a bucket (nil: a new bucket); returns the bucket.
local function rollup_merge(bucket, delta)
  local part = rollup_delta_decimal(delta)
  if bucket == nil then
    bucket = {n = delta.n, f_at = delta.f_at, l_at = delta.l_at, sum = { {}, {} } }
    if part then
      bucket.dec, bucket.e = true, part.e
      bucket.f, bucket.l, bucket.lo, bucket.hi = part.f, part.l, part.lo, part.hi
    else
      bucket.dec = false
      bucket.f, bucket.l = tonumber(delta.f), tonumber(delta.l)
      bucket.lo, bucket.hi = delta.lo_v, delta.hi_v
    end
    exact_add(bucket.sum, delta.values, delta.n)
    return bucket
  end
  bucket.n = bucket.n + delta.n
  exact_add(bucket.sum, delta.values, delta.n)
  if bucket.dec and part then
    local e = math.min(bucket.e, part.e)
    if rollup_rescale(bucket, e) and rollup_rescale(part, e) then
      if delta.f_at < bucket.f_at then bucket.f_at, bucket.f = delta.f_at, part.f end
      if delta.l_at > bucket.l_at then bucket.l_at, bucket.l = delta.l_at, part.l end
      if part.lo < bucket.lo then bucket.lo = part.lo end
      if part.hi > bucket.hi then bucket.hi = part.hi end
      return bucket
    end
  end
  rollup_to_doubles(bucket)
  if delta.f_at < bucket.f_at then bucket.f_at, bucket.f = delta.f_at, tonumber(delta.f) end
  if delta.l_at > bucket.l_at then bucket.l_at, bucket.l = delta.l_at, tonumber(delta.l) end
  if delta.lo_v < bucket.lo then bucket.lo = delta.lo_v end
  if delta.hi_v > bucket.hi then bucket.hi = delta.hi_v end
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

-- Gather a new reading (instant in us, text, value) into each tier's deltas
-- (deltas[t][bucket number], order[t] the bucket numbers in first-seen order).
local function rollup_gather(tiers, deltas, order, at, text, value)
  for t = 1, #tiers do
    local number = math.floor(at / tiers[t].us)
    local delta = deltas[t][number]
    if delta == nil then
      delta = {n = 0, values = {} }
      deltas[t][number] = delta
      order[t][#order[t] + 1] = number
    end
    rollup_delta_add(delta, at - number * tiers[t].us, text, value)
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
        local packed = redis.call('HGET', key, field)
        local bucket = rollup_merge(packed and rollup_decode(packed, tier.us) or nil, deltas[t][number])
        if redis.call('HSET', key, field, rollup_encode(bucket, tier.us)) == 1 then
          redis.call('EXPIREAT', key, string.format('%d', (chunk + 1) * chunk_size * tier.seconds + tier.keep))
        end
      end
    end
  end
end
