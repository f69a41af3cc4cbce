"""One truth for too hot or not: the readings store's dedup decides which
value of an instant wins, and the day's answer and its site.too_hot event
follow that decision, however posts of conflicting values interleave."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from service import timeutil
from service.redisdb.scripts import ScriptBatch
from service.stores import stores

MINUTE = 60
BRUSSELS = ZoneInfo("Europe/Brussels")


def base_seconds() -> int:
    """A whole UTC hour two hours ago: the readings stay inside every
    retention (readings store, windows, the day's) on the real clock."""
    return (int(time.time()) // 3600 - 2) * 3600


def local_date_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).astimezone(BRUSSELS).date().isoformat()


def readings(site: str, start: int, temperature: float, count: int = 3) -> list[dict]:
    return [{"siteId": site, "orgId": "alphacorp", "temperature": temperature, "timestamp": start + n * MINUTE}
            for n in range(count)]


def views(client, site: str, start: int) -> dict:
    """What every reader says of the site's readings since ``start``: the
    answer, the statistics, the window aggregate and the too-hot events."""
    answer = client.get("/v1/admin/toohotornot",
                        query_string={"siteId": site, "date": local_date_text(start), "unit": "C"})
    assert answer.status_code == 200, answer.json
    statistics = client.get(f"/statistics/{site}").json
    end = timeutil.us_to_iso((start + 3600) * 1_000_000)
    window = client.get(f"/v1/sensors/{site}/aggregate", query_string={"window": "1h", "end": end})
    assert window.status_code == 200, window.json
    events = client.get("/v1/events", query_string={"type": "site.too_hot"}).json["events"]
    return {
        "max": answer.json["maxTemperature"],
        "tooHot": answer.json["tooHot"],
        "readings": answer.json["readings"],
        "avg": statistics["avg"],
        "count": statistics["count"],
        "window_max": window.json["max"],
        "window_count": window.json["count"],
        "events": [event["maxTemperature"] for event in events if event["site"] == site],
    }


def agreeing(value: float, count: int) -> dict:
    hot = value > 25.0
    return {"max": value, "tooHot": hot, "readings": count, "avg": value, "count": count,
            "window_max": value, "window_count": count, "events": [value] if hot else []}


def test_a_value_sent_second_for_a_known_instant_never_reaches_the_day(client):
    """POST /data stored 10 °C for the site's sensor first; the thermometer's
    40 °C for the same instants is a duplicate everywhere, the day included."""
    start = base_seconds()
    data = [{"sensor": "hq", "timestamp": timeutil.us_to_iso((start + n * MINUTE) * 1_000_000), "value": 10.0}
            for n in range(3)]
    assert client.post("/data", json=data).json == {"accepted": 3, "duplicates": 0}
    response = client.post("/v1/temperatures", json=readings("hq", start, 40.0))
    assert response.json == {"accepted": 0, "duplicates": 3, "sitesRegistered": ["hq"]}
    assert views(client, "hq", start) == agreeing(10.0, 3)


def test_the_winning_value_reaches_the_day_in_celsius(client):
    """An org in Fahrenheit: the stored winner (°C) is the day's, shown in
    the org's unit by the answer."""
    start = base_seconds()
    assert client.put("/v1/orgs/alphacorp", json={"unit": "F"}).status_code == 200
    data = [{"sensor": "hq", "timestamp": timeutil.us_to_iso(start * 1_000_000), "value": 50, "unit": "F"}]
    client.post("/data", json=data)
    assert client.post("/v1/temperatures", json=readings("hq", start, 104.0, count=1)).json["duplicates"] == 1
    assert views(client, "hq", start) == agreeing(10.0, 1)
    answer = client.get("/v1/admin/toohotornot", query_string={"siteId": "hq", "date": local_date_text(start)})
    assert (answer.json["maxTemperature"], answer.json["unit"]) == (50.0, "F")


@pytest.mark.parametrize(("first", "second"), [(40.0, 10.0), (10.0, 40.0)])
def test_a_post_overtaken_between_its_two_writes_agrees_with_the_readings_store(client, monkeypatch, first, second):
    """The second post runs whole between the first post's two write steps
    (its first script batch and the next): one value wins everywhere."""
    start = base_seconds()
    execute = ScriptBatch.execute
    state = {"armed": True}

    def overtaken(self):
        results = execute(self)
        if state["armed"]:
            state["armed"] = False
            response = client.post("/v1/temperatures", json=readings("hq", start, second))
            assert response.status_code == 200, response.json
        return results

    client.post("/v1/sites", json={"id": "hq", "name": "HQ", "location": "Brussels", "org": "alphacorp"})
    monkeypatch.setattr(ScriptBatch, "execute", overtaken)
    assert client.post("/v1/temperatures", json=readings("hq", start, first)).status_code == 200
    monkeypatch.setattr(ScriptBatch, "execute", execute)
    winner = views(client, "hq", start)["avg"]
    assert winner in (first, second)
    assert views(client, "hq", start) == agreeing(winner, 3)


def test_day_step_lost_after_the_readings_store_is_repaired_by_the_retry(app, client, monkeypatch):
    """The readings are stored but the day step fails (Redis lost): the
    client's retry finds duplicates, and the day takes their stored values."""
    start = base_seconds()
    store = stores(app).toohot
    apply_days = store._apply_days

    def lost(days):
        raise redis.ConnectionError("connection lost")

    monkeypatch.setattr(store, "_apply_days", lost)
    assert client.post("/v1/temperatures", json=readings("hq", start, 40.0)).status_code == 503
    monkeypatch.setattr(store, "_apply_days", apply_days)
    assert views(client, "hq", start)["count"] == 3
    assert views(client, "hq", start)["readings"] == 0
    # The retry, and a racing post of other values for the same instants.
    assert client.post("/v1/temperatures", json=readings("hq", start, 10.0)).json["duplicates"] == 3
    assert client.post("/v1/temperatures", json=readings("hq", start, 40.0)).json["duplicates"] == 3
    assert views(client, "hq", start) == agreeing(40.0, 3)
