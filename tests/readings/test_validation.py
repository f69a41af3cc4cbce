"""The lean batch checker and the marshmallow contract give the same verdicts."""

from __future__ import annotations

import math
import string
from datetime import UTC
from zoneinfo import ZoneInfo

import marshmallow as ma
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import timeutil
from service.fields import ReadingSchema
from service.readings.validation import BatchError, ReadingGroups, merge_groups, parse_batch

BUCKET_US = 3600 * 1_000_000

sensor_ids = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "._:-", min_size=1, max_size=130),
    st.text(max_size=5),
    st.integers(),
    st.none(),
)
timestamps = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, ZoneInfo("Europe/Brussels"), ZoneInfo("America/New_York")])).map(
        lambda d: d.isoformat()
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2021-11-08T21:38:09Z", "2021-11-08T21:38:09.5+01:00", "nope", "", "2021-13-01T00:00:00Z"]),
    st.integers(),
    st.integers(min_value=0, max_value=timeutil.MAX_US),
    st.floats(),
    st.booleans(),
    st.none(),
)
precisions = st.sampled_from(list(timeutil.EPOCH_PRECISIONS))
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
    st.lists(st.integers(), max_size=1),
)
items = st.one_of(
    st.fixed_dictionaries({"sensor": sensor_ids, "timestamp": timestamps, "value": values}),
    st.dictionaries(st.sampled_from(["sensor", "timestamp", "value", "unit", "x"]), st.one_of(sensor_ids, timestamps, values), max_size=4),
    st.integers(),
    st.text(max_size=3),
    st.none(),
)


def marshmallow_errors(batch, assume_tz=None, precision="s") -> dict:
    try:
        ReadingSchema(many=True, assume_tz=assume_tz, precision=precision).load(batch)
    except ma.ValidationError as exc:
        return {str(index): problems for index, problems in exc.messages.items()}
    return {}


def lean_errors(batch, assume_tz=None, precision="s") -> dict:
    try:
        parse_batch(batch, max_batch=10_000, bucket_us=BUCKET_US, assume_tz=assume_tz, precision=precision)
    except BatchError as exc:
        assert exc.status == 422
        return exc.errors["json"]
    return {}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(items, max_size=6), precisions)
def test_lean_checker_and_schema_agree_on_every_item_and_message(batch, precision):
    assert lean_errors(batch, precision=precision) == marshmallow_errors(batch, precision=precision)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({"sensor": sensor_ids, "timestamp": timestamps, "value": values}), max_size=4))
def test_assumed_zone_makes_naive_timestamps_valid_in_both(batch):
    zone = ZoneInfo("Europe/Brussels")
    assert lean_errors(batch, zone) == marshmallow_errors(batch, zone)


def test_valid_batch_is_grouped_by_sensor_and_bucket_with_the_latest_instant():
    batch = [
        {"sensor": "a", "timestamp": "2021-11-08T21:00:00Z", "value": 1.5},
        {"sensor": "b", "timestamp": "2021-11-08T21:30:00Z", "value": 2},
        {"sensor": "a", "timestamp": "2021-11-08T22:15:00+01:00", "value": 3.0},
        {"sensor": "a", "timestamp": "2021-11-08T20:59:59Z", "value": 4.0},
    ]
    groups, total = parse_batch(batch, max_batch=10, bucket_us=BUCKET_US)
    assert total == 4
    latest_us, latest_iso, latest_value, buckets = groups["a"]
    assert latest_iso == "2021-11-08T22:15:00+01:00" and latest_value == "3.0"
    hour = 1636405200 * 1_000_000 // BUCKET_US  # 2021-11-08T21:00Z
    assert buckets == {hour: [0, "1.5", 15 * 60 * 1_000_000, "3.0"], hour - 1: [BUCKET_US - 1_000_000, "4.0"]}
    assert groups["b"][2] == "2"


def test_batch_larger_than_the_limit_is_413_before_any_item_is_read():
    with pytest.raises(BatchError) as caught:
        parse_batch([None] * 11, max_batch=10, bucket_us=BUCKET_US)
    assert caught.value.status == 413


valid_readings = st.lists(
    st.fixed_dictionaries({
        "sensor": st.sampled_from(["a", "b", "c"]),
        # Few instants over two buckets: repeats within and across batches.
        "timestamp": st.integers(0, 7).map(lambda n: f"2021-11-08T{20 + n // 4}:{15 * (n % 4):02d}:00Z"),
        "value": st.integers(-50, 50),
    }),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_readings, min_size=1, max_size=4))
def test_merged_batches_group_as_their_concatenation_does(batches):
    merged = ReadingGroups()
    for batch in batches:
        merge_groups(merged, parse_batch(batch, max_batch=100, bucket_us=BUCKET_US)[0])
    whole, _ = parse_batch([item for batch in batches for item in batch], max_batch=100, bucket_us=BUCKET_US)
    assert merged == whole


def _decimal(us: int, precision: str) -> str:
    """``us`` written as a decimal number in ``precision`` units, as a client would."""
    digits = {"s": 6, "ms": 3, "us": 0}[precision]
    whole, fraction = divmod(us, 10**digits)
    return f"{whole}.{fraction:0{digits}d}" if digits else str(whole)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=timeutil.MAX_US - 1), precisions)
def test_an_epoch_number_is_exactly_the_microsecond_its_decimal_text_names(us, precision):
    """No float drift: the JSON text "1714521600.123" (a double a hair
    below .123) is .123000 exactly, in every precision, over the whole range."""
    text = _decimal(us, precision)
    batch = orjson.loads(f'[{{"sensor": "a", "timestamp": {text}, "value": 1}}]')
    groups, _ = parse_batch(batch, max_batch=1, bucket_us=BUCKET_US, precision=precision)
    assert groups["a"][0] == us and groups["a"][1] == timeutil.us_to_iso(us)


@pytest.mark.parametrize("stamp", [math.nan, math.inf, -math.inf])
def test_a_non_finite_epoch_number_is_422_by_item_and_field(stamp):
    """orjson refuses NaN and Infinity; a checker given them anyway refuses them too."""
    with pytest.raises(BatchError) as caught:
        parse_batch([{"sensor": "a", "timestamp": stamp, "value": 1}], max_batch=1, bucket_us=BUCKET_US)
    assert caught.value.status == 422 and list(caught.value.errors["json"]["0"]) == ["timestamp"]
