"""PUT/GET /v1/sensors/<id> and the filtered, paginated listing."""

from __future__ import annotations

import pytest

from service import keys
from service.stores import stores

from .support import hour_start_us, post, reading


def put(client, sensor, status=None, **metadata):
    response = client.put(f"/v1/sensors/{sensor}", json=metadata)
    if status is not None:
        assert response.status_code == status, response.get_json()
    return response


def test_first_put_registers_with_201_and_the_next_updates_with_200(client):
    first = put(client, "t-1", 201, org="acme", kind="temperature", name="Lobby")
    assert first.get_json()["registered"] is True
    assert first.get_json()["input_unit"] == "C"
    second = put(client, "t-1", 200, org="acme", kind="temperature", name="Hall")
    assert second.get_json()["name"] == "Hall"
    assert second.get_json()["registered_at"] == first.get_json()["registered_at"]


def test_put_replaces_metadata_fields_left_out_are_cleared(client):
    put(client, "t-1", 201, org="acme", site="antwerp", building="B1", room="R1", kind="temperature", mac="00-1A-2B-3C-4D-5E")
    body = put(client, "t-1", 200, org="acme").get_json()
    assert (body["site"], body["building"], body["room"], body["kind"], body["mac"]) == (None, None, None, None, None)


def test_get_shows_metadata_statistics_and_last_seen(client):
    put(client, "t-1", 201, kind="temperature", unit="F", mac="00:1A:2B:3C:4D:5E")
    post(client, reading("t-1", hour_start_us(), 212))
    body = client.get("/v1/sensors/t-1").get_json()
    assert body["mac"] == "00:1a:2b:3c:4d:5e"
    assert body["statistics"] == {
        "count": 1, "avg": 100.0, "last_value": 100.0, "unit": "C", "last_measurement": body["statistics"]["last_measurement"]
    }
    assert body["last_seen"] is not None
    in_f = client.get("/v1/sensors/t-1?unit=F").get_json()["statistics"]
    assert (in_f["avg"], in_f["unit"]) == (212.0, "F")


def test_unknown_sensor_is_404_and_a_sensor_only_heard_of_is_unregistered(client):
    assert client.get("/v1/sensors/nobody").status_code == 404
    post(client, reading("heard", hour_start_us(), 1.0))
    body = client.get("/v1/sensors/heard").get_json()
    assert body["registered"] is False and body["statistics"]["count"] == 1 and body["kind"] is None


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"kind": "smell"}, "kind"),
        ({"kind": "humidity", "unit": "F"}, "unit"),
        ({"room": "R1"}, "building"),
        ({"building": "B.1"}, "building"),
        ({"mac": "00:11:22"}, "mac"),
        ({"org": "a b"}, "org"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_metadata_is_422_and_writes_nothing(client, redis_client, metadata, field):
    response = put(client, "t-1", 422, **metadata)
    assert field in response.get_json()["errors"]["json"]
    assert not redis_client.exists(keys.sensor_meta("t-1"))


def test_a_unit_alone_implies_its_kind(client):
    assert put(client, "h-1", 201, unit="%").get_json()["kind"] == "humidity"


def test_a_mac_address_belongs_to_one_sensor(client):
    put(client, "a", 201, mac="00:11:22:33:44:55")
    assert put(client, "b", 409, mac="00-11-22-33-44-55").get_json()["message"].endswith("belongs to sensor a.")
    put(client, "a", 200, mac=None)  # a gives it up, saying so
    put(client, "b", 201, mac="00:11:22:33:44:55")


def test_invalid_sensor_id_is_400(client):
    assert client.put("/v1/sensors/a%20b", json={"kind": "temperature"}).status_code == 400
    assert client.get("/v1/sensors/a%20b").status_code == 400


def ids(client, **query):
    body = client.get("/v1/sensors", query_string=query)
    assert body.status_code == 200, body.get_json()
    return [s["id"] for s in body.get_json()["sensors"]]


def test_listing_filters_by_org_site_building_room_and_kind(client):
    put(client, "a", 201, org="acme", site="s1", building="B1", room="R1", kind="temperature")
    put(client, "b", 201, org="acme", site="s1", building="B1", room="R2", kind="humidity")
    put(client, "c", 201, org="zeta", site="s2", building="B2", room="R1", kind="temperature")
    post(client, reading("loose", hour_start_us(), 1.0))
    assert ids(client) == ["a", "b", "c", "loose"]
    assert ids(client, org="acme") == ["a", "b"]
    assert ids(client, site="s2") == ["c"]
    assert ids(client, building="B1") == ["a", "b"]
    assert ids(client, building="B1", room="R1") == ["a"]
    assert ids(client, kind="temperature") == ["a", "c"]
    assert ids(client, org="acme", kind="temperature") == ["a"]
    assert ids(client, org="nobody") == []


def test_moving_a_sensor_moves_it_between_listings(client):
    put(client, "a", 201, building="B1", room="R1")
    put(client, "a", 200, building="B1", room="R2")
    assert ids(client, building="B1", room="R1") == []
    assert ids(client, building="B1", room="R2") == ["a"]


def test_an_index_entry_left_behind_never_leaks_into_a_listing(client, redis_client):
    put(client, "a", 201, building="B1", room="R1")
    redis_client.sadd(keys.sensors_in_room("B9", "R9"), "a")
    assert ids(client, building="B9", room="R9") == []


def test_room_filter_needs_a_building(client):
    assert client.get("/v1/sensors?room=R1").status_code == 422


@pytest.mark.parametrize(("filters", "id_index"), [({}, False), ({}, True), ({"org": "acme"}, False)])
def test_cursor_pagination_lists_every_sensor_once_in_id_order(client, redis_client, filters, id_index):
    if id_index:
        redis_client.set(keys.SENSOR_IDS_COMPLETE, 1)
    names = [f"s{n:02d}" for n in range(11)]
    for name in names:
        put(client, name, 201, org="acme")
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 4, **filters, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/sensors", query_string=query).get_json()
        seen += [s["id"] for s in body["sensors"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == names and pages == 3


def _unfiltered_ids(client, limit: int) -> tuple[list[str], int]:
    """Every id of the unfiltered listing, following the cursors; and the pages read."""
    ids, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/sensors", query_string=query).get_json()
        ids += [s["id"] for s in body["sensors"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


def test_the_unfiltered_listing_holds_sensors_registered_posted_to_or_heard_by_heartbeat(app, client, redis_client):
    # The index counts as filled already: only the writers below add to it.
    redis_client.set(keys.SENSOR_IDS_COMPLETE, 1)
    put(client, "c-registered", 201, kind="temperature")
    post(client, reading("a-posted", hour_start_us(), 21.0))
    stores(app).heartbeats.heartbeat("02:00:00:00:00:01")
    put(client, "b-both", 201, kind="temperature")
    post(client, reading("b-both", hour_start_us(), 21.0))
    ids, pages = _unfiltered_ids(client, 2)
    assert ids == ["02:00:00:00:00:01", "a-posted", "b-both", "c-registered"]
    # A last page that is exactly full ends the listing: no empty page after it.
    assert pages == 2


def test_sensors_written_before_the_id_index_existed_are_listed_before_and_after_it_is_filled(app, client, redis_client):
    # More than a listpack holds (128), so that a scan takes several steps.
    redis_client.zadd(keys.SENSORS_SEEN, {f"old-heard-{n:03d}": 1_700_000_000 for n in range(300)})
    redis_client.sadd(keys.SENSORS_REGISTERED, "old-registered")
    redis_client.hset(keys.sensor_meta("old-registered"), mapping={"kind": "temperature", "registered": "2024-01-01T00:00:00Z"})
    put(client, "new-registered", 201, kind="temperature")
    expected = sorted([*(f"old-heard-{n:03d}" for n in range(300)), "new-registered", "old-registered"])
    # Not filled yet: the listing reads every id.
    assert _unfiltered_ids(client, 100)[0] == expected
    registry = stores(app).sensors
    steps = 1
    while registry.fill_id_index(step=50):
        steps += 1
        assert steps < 50
    # Resumed across steps of a few ids each, then marked complete.
    assert steps > 2 and redis_client.exists(keys.SENSOR_IDS_COMPLETE)
    assert not redis_client.exists(keys.SENSOR_IDS_FILL)
    assert {m.decode() for m in redis_client.zrange(keys.SENSOR_IDS, 0, -1)} == set(expected)
    assert _unfiltered_ids(client, 100)[0] == expected
    assert registry.fill_id_index() is False


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "cursor=a%20b", "kind=smell"])
def test_bad_listing_parameters_are_422(client, query):
    assert client.get(f"/v1/sensors?{query}").status_code == 422


def test_org_unit_applies_to_its_sensors_without_a_unit_of_their_own(app, client, redis_client):
    redis_client.hset(keys.org("us-corp"), "unit", "F")
    assert put(client, "f", 201, org="us-corp", kind="temperature").get_json()["input_unit"] == "F"
    assert put(client, "k", 201, org="us-corp", kind="temperature", unit="K").get_json()["input_unit"] == "K"
    post(client, reading("f", hour_start_us(), 212), reading("k", hour_start_us(), 273.15))
    assert client.get("/v1/sensors/f").get_json()["statistics"]["avg"] == 100.0
    assert client.get("/v1/sensors/k").get_json()["statistics"]["avg"] == 0.0
    redis_client.hset(keys.org("us-corp"), "unit", "C")
    assert stores(app).sensors.refresh_org_unit("us-corp") == 1
    assert client.get("/v1/sensors/f").get_json()["input_unit"] == "C"


def test_the_kind_of_a_sensor_holding_readings_does_not_change(client, redis_client):
    put(client, "a-1", 201, kind="temperature")
    start = hour_start_us()
    post(client, *(reading("a-1", start + n * 1_000_000, value) for n, value in enumerate((21, 22, 12))))
    before = client.get("/v1/sensors/a-1").get_json()
    for change in ({"kind": "humidity", "name": "now humidity"}, {"name": "kind left out"}, {"unit": "%"}):
        refused = put(client, "a-1", 409, **change)
        assert "DELETE /statistics/a-1" in refused.get_json()["message"]
    after = client.get("/v1/sensors/a-1").get_json()
    assert (after["kind"], after["name"], after["statistics"]) == ("temperature", None, before["statistics"])
    assert after["statistics"]["unit"] == "C"
    # The same kind changes the rest; cleared statistics free the kind.
    assert put(client, "a-1", 200, kind="temperature", name="Hall").get_json()["name"] == "Hall"
    assert client.delete("/statistics/a-1").status_code in (200, 204)
    changed = put(client, "a-1", 200, kind="humidity").get_json()
    assert (changed["kind"], changed["statistics"]["count"], changed["statistics"]["unit"]) == ("humidity", 0, "%")
