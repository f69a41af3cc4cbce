"""Exact statistics: the average is the double nearest to the true mean of
the distinct readings, whatever their magnitudes, order and batching."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.readings.test_post_data import stats

BASE = "2021-11-08T12:{:02d}:{:02d}Z"


def reading(sensor: str, n: int, value: float) -> dict:
    return {"sensor": sensor, "timestamp": BASE.format(n // 60, n % 60), "value": value}


def exact_mean(values) -> float:
    return float(sum(map(Fraction, values), Fraction(0)) / len(values))


def post_each(client, sensor, values):
    for n, value in enumerate(values):
        assert client.post("/data", json=[reading(sensor, n, value)]).status_code == 200


def test_cancellation_keeps_the_small_reading(client):
    post_each(client, "s", [1e16, 1, -1e16])
    assert stats(client, "s")["avg"] == 1 / 3  # a plain float sum gives 0.0


def test_huge_readings_do_not_overflow_the_sum(client):
    post_each(client, "s", [1e308, 1e308])
    assert stats(client, "s")["avg"] == 1e308  # a plain float sum gives inf, null in JSON
    client.post("/data", json=[reading("s", 5, -sys.float_info.max), reading("s", 6, -sys.float_info.max)])
    assert stats(client, "s")["avg"] == exact_mean([1e308, 1e308, -sys.float_info.max, -sys.float_info.max])


def test_average_is_rounded_once(client):
    post_each(client, "s", [0.1, 1.0, 0.1])
    # math.fsum(...) / 3 rounds twice and gives 0.39999999999999997.
    assert stats(client, "s")["avg"] == 0.4


def test_a_sum_written_before_exact_sums_is_carried_on(client, redis_client):
    redis_client.hset("sensor:{old}", mapping={"count": 2, "sum": "3.5", "last_us": 1, "last_iso": "x", "gen": 0})
    client.post("/data", json=[reading("old", 0, 1e16), reading("old", 1, 1), reading("old", 2, -1e16)])
    assert stats(client, "old")["avg"] == 0.9


def test_an_overflowed_sum_of_before_reads_null_until_a_clear(client, redis_client):
    redis_client.hset("sensor:{old}", mapping={"count": 2, "sum": "inf", "last_us": 1, "last_iso": "x", "gen": 0})
    assert client.post("/data", json=[reading("old", 0, 1.0), reading("old", 1, 1e300)]).status_code == 200
    assert stats(client, "old")["avg"] is None
    assert stats(client, "old")["count"] == 4
    client.delete("/statistics/old")
    client.post("/data", json=[reading("old", 0, 1.0)])
    assert stats(client, "old")["avg"] == 1.0


finite = st.floats(allow_nan=False, allow_infinity=False)
values_strategy = st.one_of(
    finite,
    st.sampled_from([1e16, -1e16, 1.0, 0.1, 1e308, -1e308, sys.float_info.max, -sys.float_info.max, 5e-324, 2.0**900]),
    st.integers(-50, 50).map(float),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(values_strategy, min_size=1, max_size=25), st.data())
def test_average_is_the_correctly_rounded_mean_in_any_order(client, redis_client, values, data):
    """Against math.fsum's exactness: Fraction gives the true mean; a post
    in another order, batching and with duplicates gives the same bits."""
    redis_client.flushall()
    readings = [reading("s", n, value) for n, value in enumerate(values)]
    order = data.draw(st.permutations(readings))
    resent = data.draw(st.lists(st.sampled_from(readings), max_size=5))
    sends = order + resent
    cuts = sorted(data.draw(st.lists(st.integers(0, len(sends)), max_size=4)))
    for start, end in zip([0, *cuts], [*cuts, len(sends)], strict=True):
        if end > start:
            assert client.post("/data", json=sends[start:end]).status_code == 200
    got = stats(client, "s")
    assert got["count"] == len(values)
    assert got["avg"] == exact_mean(values)
    assert math.isfinite(got["avg"])
    try:
        fsum_mean = math.fsum(values) / len(values)
    except OverflowError:  # fsum itself overflows beyond the largest double
        return
    # fsum rounds the sum, then the division rounds again: at most one ulp off.
    assert abs(got["avg"] - fsum_mean) <= math.ulp(fsum_mean)


# exactsum.lua alone: ARGV are values, a 0-length argument ends a chunk
# (a call's new readings); returns the packed sum, unpacked and repacked
# between chunks as the statistics hash does.
SUM_CHUNKS = """
local packed = nil
local values, count = {}, 0
for i = 1, #ARGV + 1 do
  if i > #ARGV or ARGV[i] == '' then
    local sum = exact_unpack(packed)
    exact_add(sum, values, count)
    packed = exact_pack(sum)
    values, count = {}, 0
  else
    count = count + 1
    values[count] = tonumber(ARGV[i])
  end
end
return packed
"""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(values_strategy, max_size=120), st.data())
def test_lua_sum_is_exact_for_any_values_and_chunks(redis_client, values, data):
    """The sum itself, not only the mean: exactly the rational sum, after
    any number of pack/unpack round trips (hypothesis looks for inputs that
    need many partials)."""
    from service import exactsum
    from service.redisdb.scripts import lua_source

    cuts = set(data.draw(st.lists(st.integers(0, len(values)), max_size=6)))
    args = []
    for position, value in enumerate(values):
        if position in cuts:
            args.append("")
        args.append(repr(value))
    packed = redis_client.eval(lua_source("service", "exactsum.lua") + SUM_CHUNKS, 1, "sensor:{lua}", *args)
    assert exactsum.total(packed) == sum(map(Fraction, values), Fraction(0))
