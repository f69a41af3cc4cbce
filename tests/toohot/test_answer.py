"""GET /v1/admin/toohotornot on real Redis: the site's local day, its
maximum, minutes above the threshold, units, DST, late data."""

from __future__ import annotations

import pytest
from redis.connection import AbstractConnection

from service import keys
from service.stores import stores
from service.toohot.schemas import AnswerSchema

from .conftest import epoch, reading


def test_unknown_site_is_404_json(answer):
    body = answer("nope", status=404)
    assert body["code"] == 404 and "nope" in body["message"]


def test_site_without_readings_today_is_not_too_hot(post, answer, set_now):
    set_now("2024-07-16 12:00")
    post(reading(at="2024-07-15 10:00", temperature=30))
    body = answer("abc123")
    assert body == {
        "siteId": "abc123", "orgId": "alphacorp", "tooHot": False, "date": "2024-07-16",
        "timezone": "Europe/Brussels", "threshold": 25.0, "maxTemperature": None, "maxAt": None,
        "minutesAbove": 0, "readings": 0, "unit": "C",
    }


def test_hot_day_reports_max_its_instant_and_minutes_above(post, answer, set_now):
    set_now("2024-07-15 18:00")
    post([
        reading(at="2024-07-15 10:00", temperature=24.0),
        reading(at="2024-07-15 10:01", temperature=26.5),
        reading(at="2024-07-15 10:01:30", temperature=25.5),
        reading(at="2024-07-15 10:02", temperature=27.25),
        reading(at="2024-07-15 10:03", temperature=25.0),
    ])
    body = answer("abc123")
    assert body["tooHot"] is True
    assert body["maxTemperature"] == 27.25
    assert body["maxAt"] == "2024-07-15T10:02:00+02:00"
    assert body["minutesAbove"] == 2  # 10:01 and 10:02; 25.0 is not above 25
    assert body["readings"] == 5


def test_threshold_change_applies_to_the_next_answer(client, post, answer, set_now):
    set_now("2024-07-15 18:00")
    post([reading(at="2024-07-15 10:00", temperature=23.0), reading(at="2024-07-15 11:00", temperature=24.0)])
    assert answer("abc123")["tooHot"] is False
    assert client.put("/v1/orgs/alphacorp", json={"threshold": 23.5}).status_code == 200
    body = answer("abc123")
    assert (body["tooHot"], body["threshold"], body["minutesAbove"]) == (True, 23.5, 1)
    assert client.patch("/v1/sites/abc123", json={"threshold": 22}).status_code == 200
    body = answer("abc123")
    assert (body["threshold"], body["minutesAbove"]) == (22.0, 2)


def test_duplicates_do_not_inflate_readings(post, answer, set_now, client):
    set_now("2024-07-15 18:00")
    batch = [reading(at="2024-07-15 10:00", temperature=26), reading(at="2024-07-15 10:00:00.25", temperature=20)]
    assert post(batch + batch)["accepted"] == 2
    assert post(batch) == {"accepted": 0, "duplicates": 2, "sitesRegistered": []}
    assert answer("abc123")["readings"] == 2
    assert client.get("/statistics/abc123").json["count"] == 2


def test_late_reading_changes_yesterday_not_today(post, answer, set_now):
    set_now("2024-07-16 09:00")
    post(reading(at="2024-07-16 08:00", temperature=22))
    post(reading(at="2024-07-15 15:00", temperature=31))  # 18 h late
    today = answer("abc123")
    assert (today["date"], today["tooHot"], today["readings"]) == ("2024-07-16", False, 1)
    yesterday = answer("abc123", date="2024-07-15")
    assert (yesterday["tooHot"], yesterday["maxTemperature"], yesterday["readings"]) == (True, 31.0, 1)


def test_2330_utc_in_summer_is_the_next_brussels_day(post, answer, set_now):
    set_now("2024-07-16 12:00")
    late_utc = epoch("2024-07-15 23:30", zone=__import__("datetime").UTC)
    post({"siteId": "abc123", "orgId": "alphacorp", "temperature": 28, "timestamp": int(late_utc)})
    body = answer("abc123", date="2024-07-16")
    assert (body["readings"], body["maxAt"]) == (1, "2024-07-16T01:30:00+02:00")
    assert answer("abc123", date="2024-07-15")["readings"] == 0


@pytest.mark.parametrize(
    ("day", "first", "last", "hours"),
    [
        ("2024-03-31", "2024-03-31 00:00", "2024-03-31 23:59", 23),  # clocks go forward
        ("2024-10-27", "2024-10-27 00:00", "2024-10-27 23:59", 25),  # clocks go back
    ],
)
def test_dst_days_hold_every_minute_of_their_local_day(post, answer, set_now, day, first, last, hours):
    set_now(f"{day} 23:59:30")
    start = int(epoch(first))
    minutes = hours * 60
    # One reading a minute over the whole local day, 30 °C, plus one on each neighbouring day.
    post([{"siteId": "s", "orgId": "o", "temperature": 30, "timestamp": start + 60 * i} for i in range(minutes)]
         + [reading(site="s", org="o", at=last) | {"timestamp": start - 60},
            reading(site="s", org="o", at=last) | {"timestamp": start + 60 * minutes}])
    body = answer("s")
    assert body["date"] == day
    assert body["readings"] == minutes
    assert body["minutesAbove"] == minutes
    assert epoch(last) == start + 60 * (minutes - 1)


def test_fahrenheit_answer_converts_numbers(post, answer, set_now):
    set_now("2024-07-15 18:00")
    post(reading(at="2024-07-15 10:00", temperature=30))
    body = answer("abc123", unit="F")
    assert (body["unit"], body["maxTemperature"], body["threshold"]) == ("F", 86.0, 77.0)


def test_date_outside_retention_or_in_the_future_is_422(post, answer, set_now):
    set_now("2024-07-15 18:00")
    post(reading(at="2024-07-15 10:00"))
    assert answer("abc123", status=422, date="2024-07-11")["errors"]["query"]["date"]
    assert answer("abc123", status=422, date="2024-07-16")["errors"]["query"]["date"]
    assert answer("abc123", date="2024-07-12")["readings"] == 0
    assert answer("abc123", status=422, date="15/07/2024")["errors"]["query"]["date"]


def test_site_time_zone_override_moves_the_day(client, post, answer, set_now):
    set_now("2024-07-15 12:00")
    post(reading(at="2024-07-15 10:00"))
    client.patch("/v1/sites/abc123", json={"timezone": "America/New_York"})
    body = answer("abc123")
    assert (body["timezone"], body["date"]) == ("America/New_York", "2024-07-15")


def test_answer_loads_with_its_schema(post, answer, set_now):
    set_now("2024-07-15 18:00")
    post(reading(site="cool", at="2024-07-14 10:00"))
    post([reading(at="2024-07-15 10:00", temperature=26.5), reading(at="2024-07-15 10:01", temperature=24)])
    for body in (answer("abc123"), answer("abc123", unit="F"), answer("cool")):
        assert AnswerSchema().load(body) == AnswerSchema().load(AnswerSchema().dump(body))


def test_org_update_reaches_every_site_of_the_org(client, post, answer, set_now):
    set_now("2024-07-15 18:00")
    post([reading(site=f"s{n}", at="2024-07-15 10:00", temperature=24) for n in range(3)])
    post(reading(site="other", org="betacorp", at="2024-07-15 10:00", temperature=24))
    assert client.put("/v1/orgs/alphacorp", json={"threshold": 23, "unit": "F"}).status_code == 200
    for site in ("s0", "s1", "s2"):
        body = answer(site)
        assert (body["tooHot"], body["threshold"], body["unit"]) == (True, 73.4, "F")
    assert answer("other")["tooHot"] is False


def test_site_moving_to_another_org_answers_with_the_new_orgs_settings(client, post, answer, set_now):
    set_now("2024-07-15 18:00")
    assert client.put("/v1/orgs/uscorp", json={"timezone": "America/New_York", "unit": "F"}).status_code == 200
    post(reading(at="2024-07-15 10:00", temperature=24))
    assert client.patch("/v1/sites/abc123", json={"org": "uscorp"}).status_code == 200
    body = answer("abc123")
    assert (body["orgId"], body["timezone"], body["unit"], body["date"]) == (
        "uscorp", "America/New_York", "F", "2024-07-15")
    created = client.post("/v1/sites", json={"id": "new1", "name": "n", "location": "l", "org": "uscorp"})
    assert created.status_code == 201
    assert answer("new1")["timezone"] == "America/New_York"


def test_site_without_a_copy_of_its_orgs_settings_gets_one_when_asked(client, post, answer, set_now, redis_client):
    set_now("2024-07-15 18:00")
    assert client.put("/v1/orgs/alphacorp", json={"threshold": 20}).status_code == 200
    post(reading(at="2024-07-15 10:00", temperature=22))
    # A record written before sites held the copy.
    redis_client.hdel(keys.site("abc123"), "org_copy", "org_version", "org_unit", "org_timezone", "org_threshold")
    body = answer("abc123")
    assert (body["tooHot"], body["threshold"]) == (True, 20.0)
    assert redis_client.hget(keys.site("abc123"), "org_threshold") == b"20.0"


def test_older_org_settings_never_overwrite_a_newer_copy(app, client, post, redis_client):
    post(reading(at="2024-07-15 10:00"))
    assert client.put("/v1/orgs/alphacorp", json={"threshold": 21}).status_code == 200
    assert client.put("/v1/orgs/alphacorp", json={"threshold": 22}).status_code == 200
    site_copy = stores(app).orgs._site_copy
    # A slow writer arriving with version 1 after version 2 was copied.
    assert site_copy(keys=[keys.site("abc123")], args=["alphacorp", 1, "C", "Europe/Brussels", "21.0"]) == 0
    assert site_copy(keys=[keys.site("abc123")], args=["betacorp", 9, "C", "Europe/Brussels", "21.0"]) == 0
    assert redis_client.hmget(keys.site("abc123"), "org_version", "org_threshold") == [b"2", b"22.0"]
    assert site_copy(keys=[keys.site("nope")], args=["alphacorp", 3, "C", "Europe/Brussels", "21.0"]) == 0
    assert not redis_client.exists(keys.site("nope"))


def test_answer_is_one_redis_round_trip(client, post, set_now, monkeypatch):
    set_now("2024-07-15 18:00")
    post(reading(at="2024-07-15 10:00", temperature=26))
    client.get("/v1/admin/toohotornot?siteId=abc123")  # script loaded, connection open
    sent = []
    original = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    assert client.get("/v1/admin/toohotornot?siteId=abc123").json["tooHot"] is True
    assert client.get("/v1/admin/toohotornot?siteId=abc123&date=2024-07-14").json["readings"] == 0
    assert len(sent) == 2
