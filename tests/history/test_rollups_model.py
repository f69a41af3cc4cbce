"""Random batches over three years, with duplicates in other UTC offsets,
late arrivals and clears, leave every history tier holding exactly the
buckets of a plain Python model of the distinct readings since each
sensor's last clear: count, exact sum, min, max, first and last reading;
none older than its tier keeps. Readings of the last hours, which wait in
their bucket hash, are rolled up by the worker's seal."""

from __future__ import annotations

import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.stores import stores
from tests.history.tier_model import DAY_US, HOUR_US, TierModel, flush, stored, timestamp

SENSORS = ["a", "b.c", "d:e"]
NOW = time.time()
NOW_HOUR_US = int(NOW) // 3600 * HOUR_US
SPAN_HOURS = 3 * 365 * 24  # the hourly tier (400 days) drops some, the daily one (10 years) none
HOURLY_CUT_US = NOW_HOUR_US - 400 * DAY_US
OFFSETS = [timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30), timedelta(hours=5, minutes=45)]
# Short decimals, integers, 17 significant digits, huge and tiny magnitudes:
# decimal and double packings, and buckets switching from one to the other.
VALUES = st.one_of(
    st.integers(-(10**6), 10**6).map(lambda m: m / 100),
    st.integers(-(2**53), 2**53),
    st.sampled_from([0.1 + 0.2, 1e300, -1e300, 5e-324, -5e-324, 1e-32, 1e31, 1e-33, 1e32, 123456789.12345678]),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
)


def _clear_of_the_cut(us: int) -> int:
    """An instant a few hours away from where the hourly tier stops keeping,
    so that the second the test runs in never decides a bucket."""
    return us + 6 * HOUR_US if abs(us - HOURLY_CUT_US) < 3 * HOUR_US else us


instants = st.builds(
    lambda hours_ago, offset: _clear_of_the_cut(NOW_HOUR_US - 48 * HOUR_US - hours_ago * HOUR_US + offset),
    # A few hours of the span, often the same ones: buckets get several readings.
    st.one_of(st.integers(0, SPAN_HOURS), st.sampled_from([0, 1, 30, 24 * 399, 24 * 401, SPAN_HOURS])),
    st.one_of(st.integers(0, 47).map(lambda h: h * HOUR_US), st.integers(0, 2 * DAY_US), st.integers(0, 7200).map(lambda s: s * 10**6)),
)


@st.composite
def operations(draw):
    """Posts and clears; a post is a batch of new readings and copies of
    earlier ones (same instant, maybe another offset and value), in any order."""
    sent: list[tuple[str, int]] = []
    ops = []
    for _ in range(draw(st.integers(1, 6))):
        if sent and draw(st.integers(0, 5)) == 0:
            ops.append(("delete", draw(st.sampled_from(SENSORS))))
            continue
        batch = []
        for _ in range(draw(st.integers(1, 25))):
            if sent and draw(st.booleans()):
                sensor, us = draw(st.sampled_from(sent))
            else:
                sensor, us = draw(st.sampled_from(SENSORS)), draw(instants)
                sent.append((sensor, us))
            batch.append({"sensor": sensor, "timestamp": timestamp(us, draw(st.sampled_from(OFFSETS))), "value": draw(VALUES)})
        ops.append(("post", draw(st.permutations(batch))))
    return ops


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=operations())
def test_every_tier_holds_exactly_the_model_buckets(app, client, redis_client, ops):
    flush(redis_client)
    history = stores(app).history
    model = TierModel()
    for kind, arg in ops:
        if kind == "post":
            assert client.post("/data", json=arg).status_code == 200
            model.post(arg)
        else:
            assert client.delete(f"/statistics/{arg}").status_code == 204
            model.delete(arg)
    # Readings of the last hours waited in their bucket hash: the worker's
    # seal rolls them up once their hour is over (two hours from now).
    history.seal_step(now=time.time() + 2 * 3600)
    start, end = NOW_HOUR_US - (SPAN_HOURS + 200) * HOUR_US, NOW_HOUR_US + 2 * DAY_US
    for sensor in SENSORS:
        for tier in history.tiers:
            assert stored(history, sensor, tier, start, end) == model.buckets(sensor, tier, NOW), (sensor, tier)
