"""POST /v1/temperatures on real Redis: registration, units, conflicts, validation."""

from __future__ import annotations

from service import keys
from service.stores import stores

from .conftest import reading


def test_first_reading_registers_the_site_under_its_org(client, post, set_now):
    set_now("2024-07-15 18:00")
    assert post(reading()) == {"accepted": 1, "duplicates": 0, "sitesRegistered": ["abc123"]}
    site = client.get("/v1/sites/abc123").json
    assert (site["org"], site["name"]) == ("alphacorp", "abc123")
    listed = client.get("/v1/sites?org=alphacorp").json["sites"]
    assert [s["id"] for s in listed] == ["abc123"]


def test_readings_reach_the_readings_store_in_celsius(client, post, set_now):
    set_now("2024-07-15 18:00")
    post([reading(temperature=77, unit="F"), reading(at="2024-07-15 10:01", temperature=300.15, unit="K")])
    stats = client.get("/statistics/abc123").json
    assert stats["count"] == 2 and abs(stats["avg"] - 26.0) < 1e-9


def test_org_in_fahrenheit_converts_readings_without_unit(client, post, answer, set_now):
    set_now("2024-07-15 18:00")
    assert client.put("/v1/orgs/uscorp", json={"unit": "F", "timezone": "America/Chicago"}).status_code == 200
    post(reading(site="tx1", org="uscorp", temperature=86, at="2024-07-15 10:00"))
    body = answer("tx1", unit="C")
    assert body["maxTemperature"] == 30.0 and body["tooHot"] is True
    assert answer("tx1")["unit"] == "F" and answer("tx1")["maxTemperature"] == 86.0


def test_explicit_unit_wins_over_the_orgs(client, post, answer, set_now):
    set_now("2024-07-15 18:00")
    client.put("/v1/orgs/uscorp", json={"unit": "F"})
    post(reading(site="tx1", org="uscorp", temperature=20, unit="C"))
    assert answer("tx1", unit="C")["maxTemperature"] == 20.0


def test_registered_sensor_unit_wins_over_the_orgs(client, post, answer, set_now):
    set_now("2024-07-15 18:00")
    client.put("/v1/orgs/uscorp", json={"unit": "F"})
    assert client.put("/v1/sensors/probe-k", json={"kind": "temperature", "unit": "K"}).status_code in (200, 201)
    post(reading(site="tx1", org="uscorp", temperature=303.15, sensorId="probe-k"))
    assert answer("tx1", unit="C")["maxTemperature"] == 30.0
    assert client.get("/statistics/probe-k").json["count"] == 1


def test_site_of_another_org_is_409_and_nothing_is_written(client, post, redis_client, set_now):
    set_now("2024-07-15 18:00")
    post(reading(site="abc123", org="alphacorp"))
    before = sorted(redis_client.keys("*"))
    body = post([reading(site="new1", org="betacorp"), reading(site="abc123", org="betacorp", at="2024-07-15 11:00")],
                status=409)
    assert list(body["errors"]["json"]) == ["1"]
    assert sorted(redis_client.keys("*")) == before


def test_one_batch_naming_a_new_site_for_two_orgs_is_409(post, redis_client):
    body = post([reading(site="n", org="a"), reading(site="n", org="b")], status=409)
    assert list(body["errors"]["json"]) == ["1"]
    assert redis_client.dbsize() == 0


def test_validation_lists_every_item_problem_and_writes_nothing(post, redis_client):
    body = post(
        [
            reading(),
            {"siteId": "a b", "orgId": 3, "temperature": "hot", "timestamp": True, "extra": 1},
            reading(temperature=-500),
            reading(unit="R"),
            {},
        ],
        status=422,
    )
    errors = body["errors"]["json"]
    assert set(errors) == {"1", "2", "3", "4"}
    assert set(errors["1"]) == {"siteId", "orgId", "temperature", "timestamp", "extra"}
    assert set(errors["4"]) == {"siteId", "orgId", "temperature", "timestamp"}
    assert set(errors["3"]) == {"unit"}
    assert redis_client.dbsize() == 0


def test_below_absolute_zero_in_the_orgs_unit_is_422(client, post, redis_client):
    client.put("/v1/orgs/uscorp", json={"unit": "F"})
    before = redis_client.dbsize()
    body = post([reading(site="tx1", org="uscorp", temperature=70), reading(site="tx1", org="uscorp", temperature=-460)],
                status=422)
    assert body["errors"]["json"].keys() == {"1"} and set(body["errors"]["json"]["1"]) == {"temperature"}
    assert redis_client.dbsize() == before


def test_single_object_errors_are_listed_by_field(post):
    body = post({"siteId": "abc123"}, status=422)
    assert set(body["errors"]["json"]) == {"orgId", "temperature", "timestamp"}


def test_body_neither_object_nor_array_is_400(client):
    assert client.post("/v1/temperatures", json="hello").status_code == 400


def test_sensor_of_another_kind_is_422(client, post, redis_client):
    client.put("/v1/sensors/hum1", json={"kind": "humidity"})
    # A single object's problems are listed by field, as its schema problems are.
    body = post(reading(sensorId="hum1"), status=422)
    assert set(body["errors"]["json"]) == {"sensorId"}
    assert not redis_client.exists(keys.site("abc123"))


def test_retry_after_a_half_written_batch_repairs_without_double_counting(app, post, answer, set_now):
    set_now("2024-07-15 18:00")
    post(reading(at="2024-07-15 09:00"))
    store = stores(app).toohot
    items = [{"siteId": "abc123", "orgId": "alphacorp", "temperature": 26.0,
              "timestamp": int(reading(at="2024-07-15 10:00")["timestamp"]) * 1_000_000}]
    # The readings store took the reading, then the process died before the day step.
    resolution = store.resolve(items)
    store.readings.ingest(store._reading_groups(items, resolution, [repr(v) for v in resolution.celsius])[0])
    assert answer("abc123")["readings"] == 1
    assert post(reading(at="2024-07-15 10:00", temperature=26.0))["accepted"] == 0
    assert answer("abc123")["readings"] == 2


def test_readings_of_a_day_beyond_retention_are_counted_as_expired_not_plainly_accepted(client, post, answer, set_now):
    # TOOHOT_RETENTION_DAYS is 3: on the 20th, the 15th can no longer be asked about.
    set_now("2024-07-20 12:00")
    body = post([reading(at="2024-07-15 10:00", temperature=40), reading(at="2024-07-20 10:00")])
    assert body == {"accepted": 2, "duplicates": 0, "sitesRegistered": ["abc123"], "expired": 1}
    assert answer("abc123", date="2024-07-15", status=422)
    # A day still in retention answers as before, without the count.
    assert post(reading(at="2024-07-19 10:00")) == {"accepted": 1, "duplicates": 0, "sitesRegistered": []}


def test_precision_names_the_units_of_the_timestamps_as_for_post_data(client, post, set_now):
    set_now("2024-07-15 18:00")
    seconds = reading()["timestamp"]
    in_ms = client.post("/v1/temperatures?precision=ms", json=reading(timestamp=int(seconds * 1000) + 250))
    assert in_ms.status_code == 200, in_ms.json
    in_us = client.post("/v1/temperatures?precision=us", json=reading(timestamp=int(seconds * 1_000_000) + 250_000))
    assert in_us.json["duplicates"] == 1  # the same instant
    assert client.post("/v1/temperatures?precision=s", json=reading(timestamp=seconds + 0.25)).json["duplicates"] == 1
    assert client.get("/statistics/abc123").json["last_measurement"] == "2024-07-15T08:00:00.250000Z"


def test_timestamps_in_other_units_than_the_precision_are_422_in_its_units(client):
    ms = int(reading()["timestamp"] * 1000)
    refused = client.post("/v1/temperatures", json=reading(timestamp=ms))
    assert refused.status_code == 422
    assert refused.json["errors"]["json"]["timestamp"] == ["The timestamp must lie between 1970-01-01 and 2100-01-01 UTC."]
    wrong = client.post("/v1/temperatures?precision=ms", json=reading(timestamp=ms * 1000))
    assert wrong.json["errors"]["json"]["timestamp"][0].endswith("milliseconds since the Unix epoch (precision ms).")
    text = client.post("/v1/temperatures?precision=ms", json=reading(timestamp="1721030400000"))
    assert text.json["errors"]["json"]["timestamp"] == [
        "Not a valid timestamp: send milliseconds since the Unix epoch as a number (precision ms)."]


def test_an_unknown_precision_is_422_naming_the_accepted_ones_and_writes_nothing(client, redis_client):
    answer = client.post("/v1/temperatures?precision=ns", json=reading())
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"precision": ["Not a known precision; one of: s, ms, us."]}}
    assert answer.json["message"] == "The request is invalid; nothing was written."
    assert redis_client.dbsize() == 0
