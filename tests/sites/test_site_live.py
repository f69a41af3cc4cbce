"""POST/GET /v1/sites/<id>/live: both forms, validation, duplicates, latest, ranges."""

from __future__ import annotations

import copy

import pytest

from service import keys
from service.stores import stores

COLUMNS = {
    "dt-stamp": ["2023-01-01 00:00:00", "2023-01-01 00:10:00", "2023-01-01 00:20:00"],
    "soc": [0, 10, 20],
    "load_kwh": [350, 600, 500],
    "net_load_kwh": [400, 700, 600],
    "pv_notification": [True, True, True],
    "bio_notification": [False, False, False],
    "cro_notification": [False, False, False],
}


def rows_of(columns: dict) -> list[dict]:
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def entry(stamp: str, soc: float = 50, **fields) -> dict:
    return {
        "dt-stamp": stamp,
        "soc": soc,
        "load_kwh": 1,
        "net_load_kwh": 2,
        "pv_notification": True,
        "bio_notification": False,
        "cro_notification": False,
        **fields,
    }


@pytest.fixture
def site(make_site):
    return make_site("willo")


def post(client, body, site_id="willo"):
    return client.post(f"/v1/sites/{site_id}/live", json=body)


def stored(redis_client, site_id="willo"):
    return redis_client.zrange(keys.site_live(site_id), 0, -1, withscores=True)


def test_the_column_form_is_stored(client, site):
    response = post(client, COLUMNS)
    assert response.status_code == 200
    assert response.json == {"accepted": 3, "duplicates": 0}
    latest = client.get("/v1/sites/willo/live/latest").json
    assert latest == {
        "dt-stamp": "2023-01-01T00:20:00+00:00",
        "soc": 20,
        "load_kwh": 500,
        "net_load_kwh": 600,
        "pv_notification": True,
        "bio_notification": False,
        "cro_notification": False,
    }


def test_column_and_row_forms_store_the_same_entries(client, make_site, redis_client):
    make_site("by-columns")
    make_site("by-rows")
    assert post(client, COLUMNS, "by-columns").json == post(client, rows_of(COLUMNS), "by-rows").json
    assert stored(redis_client, "by-columns") == stored(redis_client, "by-rows")
    assert len(stored(redis_client, "by-rows")) == 3


def test_local_stamps_are_in_the_sites_time_zone(client, make_site):
    make_site("bxl", timezone="Europe/Brussels")
    post(client, [entry("2023-07-01 12:00:00"), entry("2023-01-01T10:00:00Z")], "bxl")
    page = client.get("/v1/sites/bxl/live").json
    # 10:00Z in winter is 11:00 in Brussels; 12:00 in summer is 10:00Z.
    assert [e["dt-stamp"] for e in page["entries"]] == ["2023-01-01T10:00:00Z", "2023-07-01T12:00:00+02:00"]
    instants = client.get("/v1/sites/bxl/live?start=2023-07-01T10:00:00Z&end=2023-07-01T10:00:01Z").json
    assert len(instants["entries"]) == 1


def test_local_stamp_and_iso_stamp_of_one_instant_are_duplicates(client, make_site):
    make_site("bxl", timezone="Europe/Brussels")
    assert post(client, [entry("2023-01-01 11:00:00")], "bxl").json == {"accepted": 1, "duplicates": 0}
    assert post(client, [entry("2023-01-01T10:00:00Z", soc=99)], "bxl").json == {"accepted": 0, "duplicates": 1}
    assert client.get("/v1/sites/bxl/live/latest").json["soc"] == 50


def test_a_stamp_in_a_daylight_saving_gap_is_rejected(client, make_site):
    make_site("bxl", timezone="Europe/Brussels")
    response = post(client, [entry("2023-03-26 02:30:00")], "bxl")
    assert response.status_code == 422
    assert "daylight-saving" in response.json["errors"]["json"]["0"]["dt-stamp"][0]


def test_resent_entries_are_duplicates_counted_not_stored_twice(client, site, redis_client):
    post(client, COLUMNS)
    changed = copy.deepcopy(COLUMNS)
    changed["soc"] = [90, 90, 90]
    changed["dt-stamp"].append("2023-01-01 00:30:00")
    for name in ("soc", "load_kwh", "net_load_kwh", "pv_notification", "bio_notification", "cro_notification"):
        changed[name].append(changed[name][-1])
    assert post(client, changed).json == {"accepted": 1, "duplicates": 3}
    entries = client.get("/v1/sites/willo/live").json["entries"]
    assert [e["soc"] for e in entries] == [0, 10, 20, 90]
    assert len(stored(redis_client)) == 4


def test_late_entry_does_not_replace_the_latest(client, site):
    post(client, [entry("2023-01-01 12:00:00", soc=12)])
    post(client, [entry("2023-01-01 08:00:00", soc=8)])
    assert client.get("/v1/sites/willo/live/latest").json["soc"] == 12
    post(client, [entry("2023-01-01 13:00:00", soc=13)])
    assert client.get("/v1/sites/willo/live/latest").json["soc"] == 13


def test_latest_of_a_site_without_data_is_404(client, site):
    response = client.get("/v1/sites/willo/live/latest")
    assert response.status_code == 404
    assert "no live data" in response.json["message"]


def test_unknown_site_is_404_and_nothing_is_stored(client, redis_client):
    assert post(client, COLUMNS, "ghost").status_code == 404
    assert client.get("/v1/sites/ghost/live/latest").status_code == 404
    assert client.get("/v1/sites/ghost/live").status_code == 404
    assert redis_client.exists(keys.site_live("ghost")) == 0


def test_the_live_script_refuses_an_unknown_site(app, redis_client):
    from service.sites.store import UnknownSite

    with pytest.raises(UnknownSite):
        stores(app).sites.add_live(
            "ghost",
            [{"dt_stamp": (0, "1970-01-01T00:00:00Z"), "soc": 1, "load_kwh": 1, "net_load_kwh": 1,
              "pv_notification": True, "bio_notification": True, "cro_notification": True}],
        )
    assert redis_client.exists(keys.site_live("ghost")) == 0


SOC_CASES = [(-0.1, False), (0, True), (100, True), (100.1, False), (50.5, True)]


@pytest.mark.parametrize(("soc", "accepted"), SOC_CASES)
def test_soc_boundaries_in_row_form(client, site, soc, accepted):
    response = post(client, [entry("2023-01-01 00:00:00", soc=soc)])
    assert response.status_code == (200 if accepted else 422)
    if not accepted:
        assert list(response.json["errors"]["json"]) == ["0"]
        assert list(response.json["errors"]["json"]["0"]) == ["soc"]


@pytest.mark.parametrize(("soc", "accepted"), SOC_CASES)
def test_soc_boundaries_in_column_form(client, site, redis_client, soc, accepted):
    columns = copy.deepcopy(COLUMNS)
    columns["soc"][1] = soc
    response = post(client, columns)
    assert response.status_code == (200 if accepted else 422)
    if not accepted:
        assert response.json["errors"]["json"] == {"soc": {"1": [response.json["errors"]["json"]["soc"]["1"][0]]}}
        assert stored(redis_client) == []


@pytest.mark.parametrize("column", ["load_kwh", "net_load_kwh"])
@pytest.mark.parametrize(("value", "accepted"), [(-1, False), (-0.001, False), (0, True), (1e6, True)])
def test_kwh_cannot_be_negative(client, site, redis_client, column, value, accepted):
    response = post(client, [entry("2023-01-01 00:00:00"), entry("2023-01-01 00:10:00", **{column: value})])
    assert response.status_code == (200 if accepted else 422)
    if not accepted:
        assert list(response.json["errors"]["json"]["1"]) == [column]
        assert stored(redis_client) == []


@pytest.mark.parametrize("column", ["pv_notification", "bio_notification", "cro_notification"])
@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_notifications_must_be_json_booleans(client, site, column, value):
    response = post(client, [entry("2023-01-01 00:00:00", **{column: value})])
    assert response.status_code == 422
    assert column in response.json["errors"]["json"]["0"]


@pytest.mark.parametrize("value", [True, "50", None, float("nan")])
def test_soc_must_be_a_finite_number(client, site, value):
    body = [entry("2023-01-01 00:00:00", soc=value)]
    if value != value:  # NaN is not JSON: send the literal
        response = client.post(
            "/v1/sites/willo/live",
            data='[{"dt-stamp":"2023-01-01 00:00:00","soc":NaN}]',
            content_type="application/json",
        )
        assert response.status_code == 400
        return
    response = post(client, body)
    assert response.status_code == 422
    assert "soc" in response.json["errors"]["json"]["0"]


@pytest.mark.parametrize(
    "stamp",
    ["2023-01-01", "2023-01-01T00:00:00", "2023-13-01 00:00:00", "01/01/2023 00:00", "", 1672531200, "2023-01-01 24:00:00"],
)
def test_unreadable_dt_stamps_are_rejected(client, site, stamp):
    response = post(client, [entry(stamp)])
    assert response.status_code == 422
    assert "dt-stamp" in response.json["errors"]["json"]["0"]


def test_columns_of_unequal_length_are_rejected(client, site, redis_client):
    columns = copy.deepcopy(COLUMNS)
    columns["soc"] = [0, 10]
    columns["cro_notification"].append(True)
    errors = post(client, columns).json["errors"]["json"]
    assert set(errors) == {"soc", "cro_notification"}
    assert "dt-stamp has 3" in errors["soc"][0]
    assert stored(redis_client) == []


def test_duplicate_stamps_in_one_post_are_rejected_by_row(client, site, redis_client):
    columns = copy.deepcopy(COLUMNS)
    columns["dt-stamp"][2] = "2023-01-01T00:00:00Z"  # the instant of row 0
    response = post(client, columns)
    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["dt-stamp"]
    assert "row 0" in response.json["errors"]["json"]["dt-stamp"]["2"][0]
    response = post(client, rows_of(columns))
    assert "row 0" in response.json["errors"]["json"]["2"]["dt-stamp"][0]
    assert stored(redis_client) == []


def test_every_problem_is_listed_with_column_and_row(client, site):
    columns = copy.deepcopy(COLUMNS)
    columns["soc"][0] = 101
    columns["load_kwh"][2] = -1
    columns["pv_notification"][1] = 1
    columns["colour"] = ["red"] * 3
    del columns["cro_notification"]
    errors = post(client, columns).json["errors"]["json"]
    assert set(errors) == {"soc", "load_kwh", "pv_notification", "colour", "cro_notification"}
    assert (list(errors["soc"]), list(errors["load_kwh"]), list(errors["pv_notification"])) == (["0"], ["2"], ["1"])
    rows = rows_of(COLUMNS)
    rows[0]["soc"] = 101
    rows[2]["load_kwh"] = -1
    rows[1]["pv_notification"] = 1
    rows[1]["colour"] = "red"
    del rows[2]["cro_notification"]
    errors = post(client, rows).json["errors"]["json"]
    assert errors.keys() == {"0", "1", "2"}
    assert (set(errors["0"]), set(errors["1"]), set(errors["2"])) == (
        {"soc"}, {"pv_notification", "colour"}, {"load_kwh", "cro_notification"}
    )


@pytest.mark.parametrize("body", ["text", 5, [1, 2], {"dt-stamp": "2023-01-01 00:00:00"}])
def test_bodies_of_neither_form_are_422(client, site, body):
    assert post(client, body).status_code == 422


def test_an_empty_post_stores_nothing(client, site):
    assert post(client, []).json == {"accepted": 0, "duplicates": 0}


def test_more_entries_than_max_batch_is_413(client, site, app):
    limit = stores(app).settings.max_batch
    response = post(client, [entry("2023-01-01 00:00:00")] * (limit + 1))
    assert response.status_code == 413


def test_range_is_start_inclusive_end_exclusive(client, site):
    post(client, COLUMNS)
    page = client.get("/v1/sites/willo/live?start=2023-01-01T00:10:00Z&end=2023-01-01T00:20:00Z").json
    assert [e["soc"] for e in page["entries"]] == [10]
    assert page["next_cursor"] is None


def test_range_pages_with_limit_and_cursor(client, site):
    stamps = [f"2023-01-01 {h:02d}:{m:02d}:00" for h in range(2) for m in range(0, 60, 10)]
    post(client, [entry(s, soc=i) for i, s in enumerate(stamps)])
    seen, cursor = [], None
    while True:
        query = {"start": "2023-01-01T00:10:00Z", "end": "2023-01-01T01:50:00Z", "limit": 4}
        if cursor:
            query["cursor"] = cursor
        page = client.get("/v1/sites/willo/live", query_string=query).json
        seen += [e["soc"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 11))


@pytest.mark.parametrize("query", ["start=yesterday", "end=2023-01-01T00:00:00", "limit=0", "limit=1001", "cursor=abc"])
def test_invalid_range_query_is_422(client, site, query):
    assert client.get(f"/v1/sites/willo/live?{query}").status_code == 422
