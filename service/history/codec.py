"""History buckets as ``rollup.lua`` packs them, read back.

The packed form is described in ``rollup.lua``, which writes it; this is its
reader (the Lua decoder and this one are held together by the tests, which
write through the scripts and read here).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .. import exactsum

_COUNT = ((1, "B"), (2, "H"), (4, "I"), (8, "d"))
_OFFSET_BYTES = (2, 3, 4, 6)
_INT_BYTES = (1, 2, 4, 7)


class Bucket(NamedTuple):
    """One history bucket of one sensor (values in its canonical unit)."""

    start_us: int
    count: int
    sum: object  # exact: float, or Fraction (exactsum.total)
    min: float
    max: float
    first_us: int
    first: float
    last_us: int
    last: float


def _int(data: bytes, pos: int, size: int, signed: bool) -> tuple[int, int]:
    return int.from_bytes(data[pos : pos + size], "little", signed=signed), pos + size


def _decimal(mantissa: int, exponent: int) -> float:
    return float(f"{mantissa}e{exponent}")


_STANDARD = {1: "B", 2: "H", 4: "I"}
_SIGNED = {1: "b", 2: "h", 4: "i"}
# (h1, width code of the differences) -> one Struct reading count, offsets
# and values, when every width is one struct knows (None: read field by field).
_LAYOUTS: dict[tuple[int, int], struct.Struct | None] = {}


def _layout(h1: int, diff_code: int) -> struct.Struct | None:
    key = (h1, diff_code)
    if key not in _LAYOUTS:
        offset = _STANDARD.get(_OFFSET_BYTES[(h1 >> 2) & 3])
        first = _SIGNED.get(_INT_BYTES[(h1 >> 5) & 3])
        diff = _SIGNED.get(_INT_BYTES[diff_code])
        layout = None
        if offset and not h1 & 16:
            layout = struct.Struct(f"<{_COUNT[h1 & 3][1]}{offset}{offset}4d")
        elif offset and first and diff:
            layout = struct.Struct(f"<{_COUNT[h1 & 3][1]}{offset}{offset}{first}{diff}{diff}{diff}")
        _LAYOUTS[key] = layout
    return _LAYOUTS[key]


def decode(packed: bytes, start_us: int, bucket_us: int) -> Bucket:
    """The bucket starting at ``start_us`` (a tier's bucket of ``bucket_us``)."""
    h1, h2 = packed[0], packed[1]
    layout = _layout(h1, h2 & 3)
    if layout is None:
        return _decode_fields(packed, start_us, bucket_us)
    count, first_offset, last_from_end, a, b, c, d = layout.unpack_from(packed, 2)
    unit = 1_000_000 if (h1 >> 2) & 3 <= 1 else 1
    if h1 & 16:
        exponent = (h2 >> 2) - 32
        if exponent < 0:
            scale = 10**-exponent
            first, last, low, high = a / scale, (a + b) / scale, (a + c) / scale, (a + d) / scale
        else:
            scale = 10**exponent
            first, last, low, high = float(a * scale), float((a + b) * scale), float((a + c) * scale), float((a + d) * scale)
    else:
        first, last, low, high = a, b, c, d
    total = _sum(packed, 2 + layout.size)
    return Bucket(start_us, int(count), total, low, high, start_us + first_offset * unit, first,
                  start_us + bucket_us - unit - last_from_end * unit, last)


def _sum(packed: bytes, pos: int):
    header = packed[pos]
    pos += 1
    if header == 255:
        n_low, n_high = packed[pos], packed[pos + 1]
        pos += 2
        floats = 0
    elif header & 7 == 7:
        return _decimal_top(header, packed, pos)
    else:
        n_low, n_high, floats = header & 7, (header >> 3) & 7, header >> 6
    lows = struct.unpack_from(f"<{floats}f{n_low - floats}d", packed, pos)
    pos += 4 * floats + 8 * (n_low - floats)
    highs = struct.unpack_from(f"<{n_high}d", packed, pos) if n_high else ()
    return exactsum.of_partials(lows, highs)


def _decimal_top(header: int, packed: bytes, pos: int):
    """A sum whose largest partial is packed as a decimal (``rollup.lua``)."""
    exponent = struct.unpack_from("<b", packed, pos)[0]
    size = _INT_BYTES[(header >> 3) & 3]
    mantissa, pos = _int(packed, pos + 1, size, True)
    top = _decimal(mantissa, exponent)
    if not header & 32:
        return exactsum.of_partials((top,))
    smaller = struct.unpack_from("<f" if header & 64 else "<d", packed, pos)[0]
    return exactsum.of_partials((smaller, top))


def _decode_fields(packed: bytes, start_us: int, bucket_us: int) -> Bucket:
    """``decode`` for widths struct has no format for (3, 6 and 7 bytes)."""
    h1, h2 = packed[0], packed[1]
    count_size, count_format = _COUNT[h1 & 3]
    offset_code = (h1 >> 2) & 3
    decimal = bool(h1 & 16)
    pos = 2
    if count_format == "d":
        count = int(struct.unpack_from("<d", packed, pos)[0])
    else:
        count = struct.unpack_from("<" + count_format, packed, pos)[0]
    pos += count_size
    offset_size = _OFFSET_BYTES[offset_code]
    first_offset, pos = _int(packed, pos, offset_size, False)
    last_from_end, pos = _int(packed, pos, offset_size, False)
    unit = 1_000_000 if offset_code <= 1 else 1
    first_us = start_us + first_offset * unit
    last_us = start_us + bucket_us - unit - last_from_end * unit
    if decimal:
        exponent = (h2 >> 2) - 32
        first_m, pos = _int(packed, pos, _INT_BYTES[(h1 >> 5) & 3], True)
        diff_size = _INT_BYTES[h2 & 3]
        last_d, pos = _int(packed, pos, diff_size, True)
        low_d, pos = _int(packed, pos, diff_size, True)
        high_d, pos = _int(packed, pos, diff_size, True)
        first, last = _decimal(first_m, exponent), _decimal(first_m + last_d, exponent)
        low, high = _decimal(first_m + low_d, exponent), _decimal(first_m + high_d, exponent)
    else:
        first, last, low, high = struct.unpack_from("<4d", packed, pos)
        pos += 32
    return Bucket(start_us, count, _sum(packed, pos), low, high, first_us, first, last_us, last)
