"""POST /data refuses readings dated later than the server's clock plus
FUTURE_TOLERANCE: a sender with a wrong clock (no real-time clock, local
time labelled Z) would leave its sensor's latest reading in the future."""

from __future__ import annotations

import pytest

from service import timeutil

SECOND_US = 1_000_000


def iso(us: int) -> str:
    return timeutil.us_to_iso(us)


def test_a_reading_dated_in_2099_refuses_its_batch_naming_the_item_and_writes_nothing(client, redis_client):
    now = timeutil.now_us()
    body = [
        {"sensor": "ok", "timestamp": iso(now - 60 * SECOND_US), "value": 1},
        {"sensor": "fut", "timestamp": "2099-12-31T00:00:00Z", "value": 99},
    ]
    response = client.post("/data", json=body)
    assert response.status_code == 422
    answer = response.get_json()
    assert "nothing of the batch was written" in answer["message"]
    assert list(answer["errors"]["json"]) == ["1"]
    (message,) = answer["errors"]["json"]["1"]["timestamp"]
    assert "73 years ahead of the server's clock" in message
    assert "FUTURE_TOLERANCE" in message and "clock may be wrong" in message
    assert redis_client.dbsize() == 0


def test_a_refused_future_reading_leaves_the_sensors_latest_reading_at_its_real_time(client):
    assert client.post("/data", json=[{"sensor": "fut", "timestamp": "2099-12-31T00:00:00Z", "value": 99}]).status_code == 422
    now = iso(timeutil.now_us() // SECOND_US * SECOND_US)
    assert client.post("/data", json=[{"sensor": "fut", "timestamp": now, "value": 20}]).status_code == 200
    assert client.get("/statistics/fut").get_json()["last_measurement"] == now
    (listed,) = [sensor for sensor in client.get("/sensors").get_json()["sensors"] if sensor["id"] == "fut"]
    assert listed["last_reading"]["at"] == now


def test_a_reading_just_within_the_tolerance_is_accepted(client):
    ahead = timeutil.now_us() + 540 * SECOND_US  # 9 of the default 10 minutes
    response = client.post("/data", json=[{"sensor": "drift", "timestamp": iso(ahead), "value": 1}])
    assert response.status_code == 200 and response.get_json()["accepted"] == 1


@pytest.mark.parametrize(("precision", "per_second"), [("s", 1), ("ms", 1_000), ("us", 1_000_000)])
def test_an_epoch_number_past_the_tolerance_is_refused_in_every_precision(client, redis_client, precision, per_second):
    ahead_s = timeutil.now_us() // SECOND_US + 3600
    response = client.post(f"/data?precision={precision}", json=[{"sensor": "e", "timestamp": ahead_s * per_second, "value": 1}])
    assert response.status_code == 422
    assert "60 minutes ahead of the server's clock" in response.get_json()["errors"]["json"]["0"]["timestamp"][0]
    assert redis_client.dbsize() == 0


def test_future_tolerance_sets_the_horizon(make_app):
    thirty_minutes_ahead = [{"sensor": "h", "timestamp": iso(timeutil.now_us() + 1800 * SECOND_US), "value": 1}]
    assert make_app().test_client().post("/data", json=thirty_minutes_ahead).status_code == 422
    assert make_app(future_tolerance=3600).test_client().post("/data", json=thirty_minutes_ahead).status_code == 200
    a_minute_ahead = [{"sensor": "h0", "timestamp": iso(timeutil.now_us() + 60 * SECOND_US), "value": 1}]
    strict = make_app(future_tolerance=0).test_client().post("/data", json=a_minute_ahead)
    assert strict.status_code == 422
    assert "more than the 0 s allowed" in strict.get_json()["errors"]["json"]["0"]["timestamp"][0]


def test_the_same_future_timestamp_in_many_readings_is_refused_in_each(client):
    stamp = iso(timeutil.now_us() + 7200 * SECOND_US)
    body = [{"sensor": f"s-{n}", "timestamp": stamp, "value": n} for n in range(3)]
    answer = client.post("/data", json=body).get_json()
    assert sorted(answer["errors"]["json"]) == ["0", "1", "2"]


def test_a_future_reading_is_listed_beside_the_batchs_other_invalid_items(client):
    now = timeutil.now_us()
    body = [
        {"sensor": "a", "timestamp": iso(now + 7200 * SECOND_US), "value": 1},
        {"sensor": "b", "timestamp": iso(now), "value": "warm"},
        {"sensor": "c", "timestamp": iso(now - SECOND_US), "value": 2},
        {"sensor": "d", "timestamp": "2099-12-31T00:00:00Z", "value": 3},
    ]
    errors = client.post("/data", json=body).get_json()["errors"]["json"]
    assert list(errors) == ["0", "1", "3"]
    assert "ahead of the server's clock" in errors["0"]["timestamp"][0] and "value" in errors["1"]
    assert "73 years ahead" in errors["3"]["timestamp"][0]
