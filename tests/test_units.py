"""Units: conversions, physical bounds, which unit applies, and the lean
checker agreeing with the marshmallow contract on readings with a unit."""

from __future__ import annotations

from fractions import Fraction

import marshmallow as ma
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from service import units
from service.fields import ReadingSchema
from service.readings.validation import BatchError, Canonical, apply_sensor_units, parse_batch
from service.stores import stores

BUCKET_US = 3600 * 1_000_000


@pytest.mark.parametrize(
    ("value", "unit", "celsius"),
    [(212, "F", 100.0), (32, "F", 0.0), (-40, "F", -40.0), (273.15, "K", 0.0), (0, "K", -273.15), (21.5, "C", 21.5)],
)
def test_temperatures_convert_to_celsius(value, unit, celsius):
    assert units.to_canonical(value, unit) == pytest.approx(celsius)
    assert units.from_canonical(celsius, unit) == pytest.approx(value)


def test_converted_values_are_stored_to_a_tenth_of_a_micro_degree_and_shown_to_a_micro_degree():
    assert units.to_canonical(70.3, "F") == 21.2777778
    assert units.to_canonical(20, "F") == -6.6666667
    assert units.from_canonical(21.2777778, "K") == 294.427778


# Values as a client sends them: at most SHOWN_DECIMALS decimals, below a
# billion degrees (beyond, a double no longer holds a micro-degree).
sent_values = st.integers(-10**15 + 1, 10**15 - 1).map(lambda n: float(Fraction(n, 10**units.SHOWN_DECIMALS)))


@settings(max_examples=2000, deadline=None)
@given(sent_values, st.sampled_from(["F", "K"]))
@example(20.0, "F")
def test_a_value_sent_in_a_unit_is_shown_back_in_it_exactly(value, unit):
    assume(units.bounds_error(units.to_canonical(value, unit), "temperature") is None)
    assert units.from_canonical(units.to_canonical(value, unit), unit) == value


def test_a_value_is_shown_in_its_unit_or_as_stored_when_none_applies():
    assert units.shown(21.2777778, "F") == 70.3
    assert units.shown(21.5, "C") == 21.5
    assert units.shown(21.5, None) == 21.5  # a sensor of no kind
    assert units.shown(None, "F") is None


@pytest.mark.parametrize(("value", "unit"), [(-273.16, "C"), (-459.7, "F"), (-0.01, "K")])
def test_below_absolute_zero_is_impossible_in_every_unit(value, unit):
    assert units.bounds_error(units.to_canonical(value, unit), "temperature")


@pytest.mark.parametrize(("value", "unit"), [(-273.15, "C"), (-459.67, "F"), (0, "K")])
def test_absolute_zero_itself_is_possible(value, unit):
    assert units.bounds_error(units.to_canonical(value, unit), "temperature") is None


@pytest.mark.parametrize(("value", "possible"), [(-0.1, False), (0, True), (100, True), (100.1, False)])
def test_humidity_lies_between_0_and_100(value, possible):
    assert (units.bounds_error(value, "humidity") is None) is possible


def test_input_unit_is_the_sensors_then_the_orgs_then_the_kinds_default():
    assert units.input_unit("temperature", "K", "F") == "K"
    assert units.input_unit("temperature", None, "F") == "F"
    assert units.input_unit("temperature", None, None) == "C"
    assert units.input_unit("humidity", None, "F") == "%"  # an org's temperature unit says nothing of humidity
    assert units.input_unit(None, None, "F") is None


def test_unit_must_suit_the_kind():
    assert units.unit_mismatch("F", "temperature") is None
    assert "not a unit of humidity" in units.unit_mismatch("F", "humidity")
    assert units.unit_mismatch("F", None) is None


def batch_of(*items):
    return parse_batch(list(items), max_batch=100, bucket_us=BUCKET_US)


def test_a_reading_with_a_unit_is_stored_canonical_and_marked_converted():
    groups, _ = batch_of({"sensor": "s", "timestamp": "2021-11-08T21:00:00Z", "value": 212, "unit": "F"})
    text = groups["s"][2]
    assert text == "100.0" and type(text) is Canonical
    assert groups.unit_kinds == {"s": {"temperature"}}


def test_sensor_input_unit_converts_only_readings_sent_without_unit():
    items = [
        {"sensor": "s", "timestamp": "2021-11-08T21:00:00Z", "value": 212},
        {"sensor": "s", "timestamp": "2021-11-08T21:01:00Z", "value": 20, "unit": "C"},
    ]
    groups, _ = batch_of(*items)
    apply_sensor_units(groups, {"s": ("temperature", "F")}, items)
    (pairs,) = groups["s"][3].values()
    assert pairs[1::2] == ["100.0", "20"]
    assert groups["s"][2] == "20"


def test_impossible_value_for_the_sensor_kind_names_the_item():
    items = [
        {"sensor": "ok", "timestamp": "2021-11-08T21:00:00Z", "value": 1},
        {"sensor": "h", "timestamp": "2021-11-08T21:00:00Z", "value": 50},
        {"sensor": "h", "timestamp": "2021-11-08T21:01:00Z", "value": 101},
        {"sensor": "h", "timestamp": "2021-11-08T21:02:00Z", "value": 20, "unit": "C"},
    ]
    groups, _ = batch_of(*items)
    with pytest.raises(BatchError) as caught:
        apply_sensor_units(groups, {"h": ("humidity", "%")}, items)
    assert caught.value.status == 422
    assert caught.value.errors == {
        "json": {"2": {"value": [units.KINDS["humidity"].bounds_message]}, "3": {"unit": [units.unit_mismatch("C", "humidity")]}}
    }


unit_items = st.fixed_dictionaries(
    {
        "sensor": st.sampled_from(["a", "b", "bad id"]),
        "timestamp": st.sampled_from(["2021-11-08T21:38:09Z", "2021-11-08T21:38:10+01:00", "nope"]),
        "value": st.one_of(st.floats(-600, 600), st.integers(-600, 600), st.floats(), st.text(max_size=2)),
    },
    optional={"unit": st.one_of(st.sampled_from(units.UNITS), st.sampled_from(["c", "", "°C"]), st.none(), st.integers())},
)


def marshmallow_errors(batch) -> dict:
    try:
        ReadingSchema(many=True).load(batch)
    except ma.ValidationError as exc:
        return {str(index): problems for index, problems in exc.messages.items()}
    return {}


def lean_errors(batch) -> dict:
    try:
        parse_batch(batch, max_batch=100, bucket_us=BUCKET_US)
    except BatchError as exc:
        return exc.errors["json"]
    return {}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(unit_items, max_size=5))
def test_lean_checker_and_schema_agree_on_readings_with_units(batch):
    assert lean_errors(batch) == marshmallow_errors(batch)


def test_sensor_meta_script_reads_kind_input_unit_and_org_even_after_a_script_flush(app, client, redis_client):
    client.put("/v1/sensors/f", json={"kind": "temperature", "unit": "F"})
    client.put("/v1/sensors/bare", json={"org": "acme"})
    store = stores(app).readings
    assert store.sensor_meta(["f", "bare", "never"]) == (
        {"f": ("temperature", "F")},
        {"f": None, "bare": "acme", "never": None},
    )
    redis_client.script_flush()
    assert store.sensor_meta(["f"])[0] == {"f": ("temperature", "F")}
