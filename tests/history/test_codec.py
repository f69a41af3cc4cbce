"""The packed history bucket at its edges, written by the ingest script
(``rollup.lua``) and read back by ``codec.decode``: every width of the
count, the offsets and the values, both value packings and the switch
between them, and sums of many partials."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from service import keys
from service.history.codec import decode
from service.stores import stores
from tests.history.tier_model import DAY_US, HOUR_US

NOW = time.time()
DAY_START_US = int(NOW) // 86400 * DAY_US - 30 * DAY_US  # a UTC midnight a month ago


def write(app, readings, sensor="s"):
    """Ingest (instant us, value text) readings of one sensor, as POST /data would."""
    buckets: dict[int, list] = {}
    for us, text in readings:
        bucket, offset = divmod(us, HOUR_US)
        buckets.setdefault(bucket, []).extend((offset, text))
    latest_us, latest_text = max(readings)
    stores(app).readings.ingest({sensor: [latest_us, "-", latest_text, buckets]}, now=NOW)


def packed(app, redis_client, start_us, tier_index, sensor="s"):
    """The packed bucket of a tier starting at ``start_us``, and its decoding."""
    tier = stores(app).history.tiers[tier_index]
    number = start_us // tier.us
    chunk, field = divmod(number, keys.ROLLUP_CHUNK)
    raw = redis_client.hget(keys.sensor_rollup_chunk(sensor, tier.seconds, 0, chunk), field)
    return raw, decode(raw, start_us, tier.us)


def header(raw):
    """(count width code, offset width code, decimal, first mantissa width code, diff width code)."""
    h1, h2 = raw[0], raw[1]
    return h1 & 3, (h1 >> 2) & 3, bool(h1 & 16), (h1 >> 5) & 3, h2 & 3


@pytest.mark.parametrize("count, width", [(255, 0), (256, 1), (65535, 1), (65536, 2), (70_001, 2)])
def test_counts_take_one_two_or_four_bytes(app, redis_client, count, width):
    readings = [(DAY_START_US + i * 50_000, "21.37" if i % 2 else "-4") for i in range(count)]
    write(app, readings)
    raw, bucket = packed(app, redis_client, DAY_START_US, 0)
    assert header(raw)[0] == width
    assert bucket.count == count
    assert Fraction(bucket.sum) == sum(Fraction(float(text)) for _, text in readings)
    assert (bucket.min, bucket.max) == (-4.0, 21.37)
    assert (bucket.first_us, bucket.first) == (DAY_START_US, -4.0)
    assert (bucket.last_us, bucket.last) == readings[-1][0:1] + (float(readings[-1][1]),)


S = 1_000_000


@pytest.mark.parametrize(
    "first_us, last_us, tier_index, width",
    [
        (0, 3599 * S, 0, 0),  # whole seconds of an hour: 2 bytes each
        (7 * S + 1, 3599 * S, 0, 2),  # microseconds of an hour: 4 bytes
        (30_000 * S, 40_000 * S, 1, 0),  # whole seconds within 65,535 s of both ends of a day
        (0, 3599 * S, 1, 1),  # further from one end: 3 bytes
        (70_000 * S, 86_399 * S, 1, 1),
        (1, 4000 * S, 1, 3),  # microseconds of a day: 6 bytes
        (86_399 * S + 500_000, 86_399 * S + 999_999, 1, 3),
    ],
)
def test_offsets_take_the_narrowest_width_of_seconds_or_microseconds(app, redis_client, first_us, last_us, tier_index, width):
    write(app, [(DAY_START_US + first_us, "1.5"), (DAY_START_US + last_us, "-2.25")])
    tier = stores(app).history.tiers[tier_index]
    raw, bucket = packed(app, redis_client, DAY_START_US + first_us // tier.us * tier.us, tier_index)
    assert header(raw)[1] == width
    assert (bucket.first_us, bucket.first) == (DAY_START_US + first_us, 1.5)
    assert (bucket.last_us, bucket.last, bucket.count) == (DAY_START_US + last_us, -2.25, 2)


@pytest.mark.parametrize(
    "texts, first_width, diff_width",
    [
        (["-1.28", "-0.01", "-1"], 0, 0),  # first -128, differences up to 127: a byte each
        (["3.27", "-324.41", "0"], 1, 1),  # first 327, differences down to -32,768: two bytes
        (["-21474836.49", "5", "2147483.647"], 3, 3),  # first below -2**31: seven bytes
        (["1e-15", "3e-15", "-2e-15"], 0, 0),  # 15 fraction digits: the most a decimal bucket holds
        (["1e+15", "4e+15", "-1e+15"], 0, 0),  # whole values below 2**52, trailing zeros in the exponent
        (["-999999999999999", "999999999999999"], 3, 3),  # 15 digits: still decimal
    ],
)
def test_decimal_values_pack_as_mantissas_of_a_shared_exponent(app, redis_client, texts, first_width, diff_width):
    readings = [(DAY_START_US + i * 1_000_000, text) for i, text in enumerate(texts)]
    write(app, readings)
    raw, bucket = packed(app, redis_client, DAY_START_US, 0)
    _, _, decimal, first_w, diff_w = header(raw)
    assert decimal
    assert (first_w, diff_w) == (first_width, diff_width)
    values = [float(text) for text in texts]
    assert (bucket.first, bucket.last, bucket.min, bucket.max) == (values[0], values[-1], min(values), max(values))
    assert Fraction(bucket.sum) == sum(map(Fraction, values))


@pytest.mark.parametrize(
    "texts",
    [
        ["1e-16", "2.5"],  # 16 fraction digits
        ["1e-33", "2.5"],
        ["1e+32", "2.5"],  # a mantissa of 2**52 or more
        ["0.30000000000000004", "0.1"],  # 17 significant digits
        ["5e-324", "-1e+300", "1.7976931348623157e+308"],
        ["4e+15", "0.5"],  # each decimal, but no shared exponent within 2**52
    ],
)
def test_values_without_a_short_decimal_form_make_the_bucket_hold_doubles(app, redis_client, texts):
    readings = [(DAY_START_US + i * 1_000_000, text) for i, text in enumerate(texts)]
    write(app, readings)
    for tier_index in (0, 1):
        raw, bucket = packed(app, redis_client, DAY_START_US, tier_index)
        assert not header(raw)[2]
        values = [float(text) for text in texts]
        assert (bucket.first, bucket.last, bucket.min, bucket.max) == (values[0], values[-1], min(values), max(values))
        assert Fraction(bucket.sum) == sum(map(Fraction, values))


def test_a_decimal_bucket_switches_to_doubles_when_a_later_reading_needs_them(app, redis_client):
    write(app, [(DAY_START_US + 5_000_000, "21.37"), (DAY_START_US + 9_000_000, "-3")])
    assert header(packed(app, redis_client, DAY_START_US, 0)[0])[2]
    write(app, [(DAY_START_US + 1_000_000, "0.30000000000000004"), (DAY_START_US + 7_000_000, "1e-40")])
    raw, bucket = packed(app, redis_client, DAY_START_US, 0)
    assert not header(raw)[2]
    assert (bucket.first_us, bucket.first) == (DAY_START_US + 1_000_000, 0.30000000000000004)
    assert (bucket.last_us, bucket.last) == (DAY_START_US + 9_000_000, -3.0)
    assert (bucket.min, bucket.max, bucket.count) == (-3.0, 21.37, 4)
    assert Fraction(bucket.sum) == sum(map(Fraction, [21.37, -3.0, 0.30000000000000004, 1e-40]))


def test_a_sum_of_many_partials_and_huge_values_stays_exact(app, redis_client):
    texts = ["1e+300", "1", "1e-300", "1e+200", "1e+100", "1e-100", "1e-200", "1e+50", "1.7976931348623157e+308",
             "1.7976931348623157e+308", "-1e-300", "3.5", "0.1"]
    readings = [(DAY_START_US + i * 1_000_000, text) for i, text in enumerate(texts)]
    write(app, readings)
    for tier_index in (0, 1):
        raw, bucket = packed(app, redis_client, DAY_START_US, tier_index)
        assert Fraction(bucket.sum) == sum(map(Fraction, map(float, texts)))
        assert bucket.count == len(texts)
