"""POST/GET/PATCH /v1/sites: site metadata, ids, filters and pagination."""

from __future__ import annotations

import re

import pytest
from redis.crc import key_slot

from service import keys
from service.sites.schemas import new_site_id


def test_create_site_returns_the_stored_record(client):
    response = client.post("/v1/sites", json={"id": "willo", "name": "Willo Woods", "location": "north"})
    assert response.status_code == 201
    site = response.json
    assert {k: site[k] for k in ("id", "name", "location", "org", "timezone", "threshold")} == {
        "id": "willo",
        "name": "Willo Woods",
        "location": "north",
        "org": None,
        "timezone": None,
        "threshold": None,
    }
    assert site["created_at"].endswith("Z")
    assert client.get("/v1/sites/willo").json == site


def test_create_site_keeps_org_timezone_and_threshold(client):
    body = {"id": "hq", "name": "HQ", "location": "Brussels", "org": "acme", "timezone": "Europe/Brussels", "threshold": 25}
    site = client.post("/v1/sites", json=body).json
    assert (site["org"], site["timezone"], site["threshold"]) == ("acme", "Europe/Brussels", 25.0)


def test_site_without_id_gets_a_ulid_style_id(client):
    first = client.post("/v1/sites", json={"name": "A", "location": "north"})
    second = client.post("/v1/sites", json={"name": "B", "location": "north"})
    assert first.status_code == second.status_code == 201
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", first.json["id"])
    assert first.json["id"] != second.json["id"]
    assert client.get(f"/v1/sites/{first.json['id']}").json["name"] == "A"


def test_assigned_ids_sort_by_creation_time():
    assert new_site_id(now=1_700_000_000) < new_site_id(now=1_700_000_001)


def test_duplicate_site_id_is_409_and_changes_nothing(client, make_site, redis_client):
    make_site("willo", name="First")
    keys_before = set(redis_client.keys("*"))
    response = client.post("/v1/sites", json={"id": "willo", "name": "Second", "location": "south", "org": "x"})
    assert set(redis_client.keys("*")) == keys_before, "a 409 writes no index entry either"
    assert response.status_code == 409
    assert response.json["code"] == 409
    site = client.get("/v1/sites/willo").json
    assert (site["name"], site["location"]) == ("First", "north")
    assert client.get("/v1/sites?location=south").json["sites"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A"}, "location"),
        ({"location": "north"}, "name"),
        ({"name": "  ", "location": "north"}, "name"),
        ({"name": "A", "location": "north", "id": "bad id"}, "id"),
        ({"name": "A", "location": "north", "id": "x" * 129}, "id"),
        ({"name": "A", "location": "north", "id": "a{b}"}, "id"),
        ({"name": "A", "location": "north", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "A", "location": "north", "timezone": 1}, "timezone"),
        ({"name": "A", "location": "north", "threshold": "25"}, "threshold"),
        ({"name": "A", "location": "north", "threshold": True}, "threshold"),
        ({"name": "A", "location": "north", "threshold": -274}, "threshold"),
        ({"name": "A", "location": "north", "org": "a/b"}, "org"),
        ({"name": "A", "location": "north", "colour": "red"}, "colour"),
    ],
)
def test_invalid_site_is_422_naming_the_field(client, body, field):
    response = client.post("/v1/sites", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert client.get("/v1/sites").json["sites"] == []


def test_site_id_of_128_characters_is_accepted(client):
    site_id = "a.b_c:d-" * 16
    assert client.post("/v1/sites", json={"id": site_id, "name": "A", "location": "n"}).status_code == 201


def test_unknown_site_is_404(client):
    response = client.get("/v1/sites/nope")
    assert response.status_code == 404
    assert "nope" in response.json["message"]
    assert client.patch("/v1/sites/nope", json={"name": "X"}).status_code == 404


def test_patch_changes_fields_and_null_removes_an_override(client, make_site):
    make_site("hq", org="acme", timezone="Europe/Brussels", threshold=25)
    response = client.patch("/v1/sites/hq", json={"name": "Head office", "threshold": None, "timezone": "UTC"})
    assert response.status_code == 200
    site = response.json
    assert (site["name"], site["threshold"], site["timezone"], site["org"]) == ("Head office", None, "UTC", "acme")
    assert site["updated_at"] >= site["created_at"]
    assert client.get("/v1/sites/hq").json == site


def test_patch_validates_like_create_and_changes_nothing_on_error(client, make_site):
    make_site("hq")
    response = client.patch("/v1/sites/hq", json={"timezone": "Nowhere/Else", "threshold": "hot", "id": "other"})
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"timezone", "threshold", "id"}
    assert client.get("/v1/sites/hq").json["timezone"] is None


def test_list_filters_by_org_and_location(client, make_site):
    make_site("a", org="acme", location="north")
    make_site("b", org="acme", location="south")
    make_site("c", org="globex", location="north")
    make_site("d", location="north")

    def ids(query):
        return [s["id"] for s in client.get(f"/v1/sites{query}").json["sites"]]

    assert ids("") == ["a", "b", "c", "d"]
    assert ids("?org=acme") == ["a", "b"]
    assert ids("?location=north") == ["a", "c", "d"]
    assert ids("?org=acme&location=north") == ["a"]
    assert ids("?org=nobody") == []


def test_list_follows_a_patched_org_and_location(client, make_site):
    make_site("a", org="acme", location="north")
    client.patch("/v1/sites/a", json={"org": "globex", "location": "south"})
    assert client.get("/v1/sites?org=acme").json["sites"] == []
    assert client.get("/v1/sites?location=north").json["sites"] == []
    assert [s["id"] for s in client.get("/v1/sites?org=globex&location=south").json["sites"]] == ["a"]


def test_list_skips_stale_index_entries(client, make_site, redis_client):
    make_site("a", org="acme")
    # An index entry without a record (a create that died half-way) and one
    # whose record moved to another org are both left out.
    redis_client.zadd(keys.sites_by_org("acme"), {"ghost": 0, "b": 0})
    make_site("b", org="globex")
    assert [s["id"] for s in client.get("/v1/sites?org=acme").json["sites"]] == ["a"]


def test_cursor_pagination_visits_every_site_once(client, make_site):
    for n in range(7):
        make_site(f"s{n}", org="acme" if n % 2 else "globex")
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/sites{query}").json
        seen += [s["id"] for s in page["sites"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"s{n}" for n in range(7)]
    assert pages == 3


def test_filtered_pagination_ends_without_an_empty_page(client, make_site):
    for n in range(6):
        make_site(f"s{n}", org="acme" if n < 2 else "globex")
    page = client.get("/v1/sites?org=acme&limit=2").json
    assert [s["id"] for s in page["sites"]] == ["s0", "s1"]
    assert page["next_cursor"] is None


@pytest.mark.parametrize("query", ["?limit=0", "?limit=1001", "?limit=x", "?cursor=a%20b"])
def test_invalid_list_query_is_422(client, query):
    assert client.get(f"/v1/sites{query}").status_code == 422


def test_invalid_site_id_in_path_is_400(client):
    assert client.get("/v1/sites/a%20b").status_code == 400


def test_site_keys_share_the_site_hash_tag(client, make_site, redis_client):
    make_site("willo")
    client.put("/v1/sites/willo/configuration", json={
        "battery": {"vendor": "KATL", "capacity_kwh": 1, "max_power_kw": 1},
        "production": {"pv": {"units": 0}, "bio": {"units": 0}, "cro": {"units": 0}},
    })
    client.post("/v1/sites/willo/live", json=[{
        "dt-stamp": "2023-01-01 00:00:00", "soc": 1, "load_kwh": 1, "net_load_kwh": 1,
        "pv_notification": True, "bio_notification": False, "cro_notification": False,
    }])
    site_keys = [keys.site("willo"), keys.site_configurations("willo"), keys.site_live("willo")]
    assert [redis_client.exists(k) for k in site_keys] == [1, 1, 1]
    assert {key_slot(k.encode()) for k in site_keys} == {key_slot(b"willo")}
