"""POST /v1/temperatures refuses a reading dated later than the server's
clock plus FUTURE_TOLERANCE: 422 by item and field, nothing written."""

from __future__ import annotations

import time

from service import timeutil


def reading(timestamp, site: str = "abc123") -> dict:
    return {"siteId": site, "orgId": "alphacorp", "temperature": 27.3, "timestamp": timestamp}


def test_a_temperature_dated_in_2099_refuses_the_post_and_writes_nothing(client, redis_client):
    body = [reading(time.time() - 60), reading(4102358400, "def456")]
    response = client.post("/v1/temperatures", json=body)
    assert response.status_code == 422
    answer = response.get_json()
    assert list(answer["errors"]["json"]) == ["1"] and "nothing was written" in answer["message"]
    (message,) = answer["errors"]["json"]["1"]["timestamp"]
    assert "73 years ahead of the server's clock" in message and "clock may be wrong" in message
    assert redis_client.dbsize() == 0


def test_a_lone_future_temperature_names_its_field(client):
    response = client.post("/v1/temperatures?precision=ms", json=reading((time.time() + 3600) * 1000))
    assert response.status_code == 422
    assert "60 minutes ahead" in response.get_json()["errors"]["json"]["timestamp"][0]


def test_a_temperature_just_within_the_tolerance_is_accepted(client):
    response = client.post("/v1/temperatures", json=reading(time.time() + 540))
    assert response.status_code == 200 and response.get_json()["accepted"] == 1


def test_future_tolerance_sets_the_horizon_of_temperatures(make_app):
    body = reading(timeutil.now_us() / 1e6 + 1800)
    assert make_app().test_client().post("/v1/temperatures", json=body).status_code == 422
    assert make_app(future_tolerance=3600).test_client().post("/v1/temperatures", json=body).status_code == 200
