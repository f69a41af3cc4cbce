"""Window, series and room averages are exact: the double nearest to the
true mean of the readings in them, whatever their magnitudes and order."""

from __future__ import annotations

import sys
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import MINUTE_US, aggregate, hour_start_us, iso, post, reading


def exact_mean(values) -> float:
    return float(sum(map(Fraction, values), Fraction(0)) / len(values))


def series_avgs(client, sensor: str, start: int, end: int) -> list[float]:
    body = client.get(f"/v1/sensors/{sensor}/series", query_string={"start": iso(start), "end": iso(end), "bucket": "1h"})
    assert body.status_code == 200, body.get_json()
    return [point["avg"] for point in body.get_json()["points"]]


def test_cancellation_and_huge_values_in_windows_and_series(client):
    end = hour_start_us()
    start = end - 15 * MINUTE_US
    post(client, *(reading("c", start + n, v) for n, v in enumerate([1e16, 1, -1e16])))
    post(client, *(reading("h", start + n, v) for n, v in enumerate([1e308, 1e308])))
    assert aggregate(client, "c", end)["avg"] == 1 / 3  # a plain float sum gives 0.0
    assert aggregate(client, "h", end)["avg"] == 1e308  # a plain float sum gives inf: null
    hour = end - 60 * MINUTE_US
    assert series_avgs(client, "c", hour, end) == [1 / 3]
    assert series_avgs(client, "h", hour, end) == [1e308]
    many = client.get("/v1/series", query_string={"sensors": "c,h", "start": iso(hour), "end": iso(end), "bucket": "1h"})
    assert [s["points"][0]["avg"] for s in many.get_json()["series"]] == [1 / 3, 1e308]


def test_room_average_is_exact_across_sensors(client):
    end = hour_start_us()
    items = [
        {"sensor": "a", "value": 2.0**53, "timestamp": iso(end - 3 * MINUTE_US)},
        {"sensor": "b", "value": 1.0, "timestamp": iso(end - 2 * MINUTE_US)},
        {"sensor": "c", "value": 1.0, "timestamp": iso(end - 1 * MINUTE_US)},
    ]
    assert client.post("/v1/buildings/B1/rooms/R1/temperatures", json=items).status_code == 200
    body = client.get("/v1/buildings/B1/rooms/R1/average", query_string={"window": "15m", "end": iso(end)}).get_json()
    # A float sum loses both 1s (2**53 + 1 rounds to 2**53): 3002399751580330.5.
    assert (body["avg"], body["count"]) == ((2**53 + 2) / 3, 3) == (3002399751580331.5, 3)


values_strategy = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e16, -1e16, 1.0, 0.1, 1e308, -1e308, sys.float_info.max, -sys.float_info.max, 5e-324]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(values_strategy, min_size=1, max_size=20), st.randoms(use_true_random=False))
def test_window_and_series_averages_are_correctly_rounded(client, redis_client, values, rng):
    redis_client.flushall()
    end = hour_start_us()
    start = end - 15 * MINUTE_US
    items = [reading("s", start + n * 1000, value) for n, value in enumerate(values)]
    rng.shuffle(items)
    post(client, *items)
    assert aggregate(client, "s", end)["avg"] == exact_mean(values)
    assert series_avgs(client, "s", end - 60 * MINUTE_US, end) == [exact_mean(values)]
