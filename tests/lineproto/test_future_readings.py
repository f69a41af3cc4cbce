"""The line protocol refuses a point dated later than the server's clock
plus FUTURE_TOLERANCE as it refuses any bad line: 400 naming the line,
nothing written."""

from __future__ import annotations

from service import timeutil

SECOND_NS = 1_000_000_000


def now_ns() -> int:
    return timeutil.now_us() * 1000


def test_a_point_dated_in_2099_refuses_the_write_naming_its_line(client, redis_client):
    past = now_ns() - 60 * SECOND_NS
    body = f"temp,sensor=t-1 value=21.5 {past}\ntemp,sensor=fut value=99 4102358400000000000\n"
    response = client.post("/api/v2/write?org=o&bucket=b", data=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert "(line 2)" in answer["message"] and "nothing was written" in answer["message"]
    (message,) = answer["errors"]["body"]["2"]
    assert "unable to parse 'temp,sensor=fut value=99 4102358400000000000'" in message
    assert "73 years ahead of the server's clock" in message and "clock may be wrong" in message
    assert redis_client.dbsize() == 0


def test_a_point_just_within_the_tolerance_is_written(client):
    ahead_s = timeutil.now_us() // 1_000_000 + 540
    assert client.post("/write?precision=s", data=f"temp,sensor=drift value=1 {ahead_s}").status_code == 204
    assert client.get("/statistics/drift").get_json()["count"] == 1


def test_future_tolerance_sets_the_line_protocols_horizon(make_app):
    line = f"temp,sensor=h value=1 {now_ns() + 1800 * SECOND_NS}"
    refused = make_app().test_client().post("/write", data=line)
    assert refused.status_code == 400 and "30 minutes ahead" in refused.get_json()["errors"]["body"]["1"][0]
    assert make_app(future_tolerance=3600).test_client().post("/write", data=line).status_code == 204


def test_a_point_without_a_timestamp_takes_the_servers_time(client):
    assert client.post("/write", data="temp,sensor=now value=1").status_code == 204
