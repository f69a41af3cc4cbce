"""The event stream: idempotent publishing and GET /v1/events."""

from __future__ import annotations

from service import keys
from service.stores import stores


def test_publishing_an_event_id_twice_appends_it_once(app, clean_redis):
    events = stores(app).events
    first = events.publish("site.too_hot", "site-1", org="acme", data={"site": "site-1"}, event_id="site.too_hot:site-1:2024-06-01")
    again = events.publish("site.too_hot", "site-1", org="acme", data={"site": "site-1"}, event_id="site.too_hot:site-1:2024-06-01")
    assert first is not None and again is None
    assert clean_redis.xlen(keys.EVENTS_STREAM) == 1
    assert events.get(first)["site"] == "site-1"


def test_events_page_newest_first_with_cursor(app, client):
    events = stores(app).events
    for n in range(7):
        events.publish("sensor.offline", f"s-{n}", data={"sensor": f"s-{n}"})
    first = client.get("/v1/events?limit=3").json
    assert [e["sensor"] for e in first["events"]] == ["s-6", "s-5", "s-4"]
    second = client.get(f"/v1/events?limit=3&cursor={first['next_cursor']}").json
    third = client.get(f"/v1/events?limit=3&cursor={second['next_cursor']}").json
    assert [e["sensor"] for e in second["events"] + third["events"]] == ["s-3", "s-2", "s-1", "s-0"]
    assert third["next_cursor"] is None


def test_events_filter_by_type_sensor_and_org(app, client):
    events = stores(app).events
    events.publish("sensor.offline", "a", org="acme", data={"sensor": "a"})
    events.publish("sensor.online", "a", org="acme", data={"sensor": "a"})
    events.publish("sensor.offline", "b", org="beta", data={"sensor": "b"})
    events.publish("site.too_hot", "hq", org="acme", data={"site": "hq"})

    def ids(query):
        answer = client.get("/v1/events?" + query)
        assert answer.status_code == 200
        return [(e["type"], e["subject"]) for e in answer.json["events"]]

    assert ids("type=sensor.offline") == [("sensor.offline", "b"), ("sensor.offline", "a")]
    assert ids("sensor=a") == [("sensor.online", "a"), ("sensor.offline", "a")]
    assert ids("org=acme&type=sensor.offline&type=site.too_hot") == [("site.too_hot", "hq"), ("sensor.offline", "a")]
    assert ids("org=nobody") == []


def test_invalid_event_query_is_rejected(client):
    assert client.get("/v1/events?type=sensor.exploded").status_code == 422
    assert client.get("/v1/events?cursor=not-a-cursor").status_code == 422
    assert client.get("/v1/events?limit=0").status_code == 422
    assert client.get("/v1/events?sensor=a{b}").status_code == 422
