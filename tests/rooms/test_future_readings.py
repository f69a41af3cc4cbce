"""Room posts refuse a reading dated later than the server's clock plus
FUTURE_TOLERANCE: 422 by item and field, nothing written (not even the
room's sensor registered or claimed)."""

from __future__ import annotations

import json

from service import timeutil
from tests.auth.authkeys import ALPHA_INGEST, KEYS, bearer

SECOND_US = 1_000_000
URL = "/v1/buildings/B1/rooms/R1/temperatures"


def test_a_room_reading_dated_in_2099_refuses_the_post_and_writes_nothing(client, redis_client):
    now = timeutil.now_us()
    body = [{"value": 21.0, "timestamp": (now - 60 * SECOND_US) / 1e6}, {"value": 22.0, "timestamp": "2099-12-31T00:00:00Z"}]
    response = client.post(URL, json=body)
    assert response.status_code == 422
    (message,) = response.get_json()["errors"]["json"]["1"]["timestamp"]
    assert "ahead of the server's clock" in message and "FUTURE_TOLERANCE" in message
    assert redis_client.dbsize() == 0


def test_an_org_keys_future_room_reading_claims_no_sensor(make_app, redis_client):
    client = make_app(api_keys_text=json.dumps(KEYS)).test_client()
    before = redis_client.dbsize()
    response = client.post(URL, json={"value": 21.0, "timestamp": "2099-12-31T00:00:00Z"}, headers=bearer(ALPHA_INGEST))
    assert response.status_code == 422 and "timestamp" in response.get_json()["errors"]["json"]
    assert redis_client.dbsize() == before


def test_a_room_reading_just_within_the_tolerance_is_accepted(client):
    ahead = (timeutil.now_us() + 540 * SECOND_US) / 1e6
    response = client.post(URL, json={"value": 21.0, "timestamp": ahead})
    assert response.status_code == 200 and response.get_json()["accepted"] == 1


def test_future_tolerance_sets_the_rooms_horizon(make_app):
    body = {"value": 21.0, "timestamp": (timeutil.now_us() + 1800 * SECOND_US) / 1e6}
    assert make_app().test_client().post(URL, json=body).status_code == 422
    assert make_app(future_tolerance=3600).test_client().post(URL, json=body).status_code == 200
