"""An org's keys reach the org's sensors only; another org's answer 404."""

from __future__ import annotations

import time

from service import keys, timeutil
from service.auth import sensors as sensor_scope
from service.stores import stores

from .authkeys import (
    ALL_ADMIN,
    ALL_INGEST,
    ALL_READ,
    ALPHA_ADMIN,
    ALPHA_INGEST,
    ALPHA_READ,
    BETA_INGEST,
    BETA_READ,
    bearer,
    reading,
)


def org_of(redis_client, sensor: str):
    org = redis_client.hget(keys.sensor_meta(sensor), "org")
    return org.decode() if org else None


def register(redis_client, sensor: str, org: str) -> None:
    redis_client.hset(keys.sensor_meta(sensor), mapping={"org": org})


def test_an_org_key_claims_unowned_sensors_on_first_write(keyed, redis_client):
    response = keyed.post("/data", json=[reading("a1"), reading("a2")], headers=bearer(ALPHA_INGEST))
    assert response.get_json() == {"accepted": 2, "duplicates": 0}
    assert org_of(redis_client, "a1") == org_of(redis_client, "a2") == "alphacorp"
    assert keyed.get("/statistics/a1", headers=bearer(ALPHA_READ)).get_json()["count"] == 1


def test_another_orgs_sensor_looks_exactly_like_a_missing_one(keyed):
    keyed.post("/data", json=[reading("a1")], headers=bearer(ALPHA_INGEST))
    foreign = keyed.get("/statistics/a1", headers=bearer(BETA_READ))
    missing = keyed.get("/statistics/a1-never-seen", headers=bearer(BETA_READ))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json()["message"].replace("a1", "X") == missing.get_json()["message"].replace("a1-never-seen", "X")


def test_an_org_key_cannot_write_to_another_orgs_sensor_and_the_batch_writes_nothing(keyed, redis_client):
    keyed.post("/data", json=[reading("a1", 1)], headers=bearer(ALPHA_INGEST))
    response = keyed.post("/data", json=[reading("b-new", 2), reading("a1", 3, 99.0)], headers=bearer(BETA_INGEST))
    assert response.status_code == 404
    assert "a1" in response.get_json()["message"] and "b-new" not in response.get_json()["message"]
    assert keyed.get("/statistics/a1", headers=bearer(ALPHA_READ)).get_json() == {
        "last_measurement": "2021-11-08T21:38:01Z", "count": 1, "avg": 20.0,
    }
    # Nothing of the refused batch was written, not even the claim of b-new.
    assert org_of(redis_client, "b-new") is None
    assert not redis_client.exists(keys.sensor("b-new"))


def test_a_registered_sensor_of_another_org_is_refused_to_a_writer(keyed, redis_client):
    register(redis_client, "b1", "betacorp")
    assert keyed.post("/data", json=[reading("b1")], headers=bearer(ALPHA_INGEST)).status_code == 404
    assert keyed.post("/data", json=[reading("b1")], headers=bearer(BETA_INGEST)).status_code == 200
    assert keyed.get("/statistics/b1", headers=bearer(BETA_READ)).get_json()["count"] == 1


def test_an_unowned_sensor_is_read_only_by_all_orgs_keys(keyed):
    keyed.post("/data", json=[reading("loose")], headers=bearer(ALL_INGEST))
    assert keyed.get("/statistics/loose", headers=bearer(ALPHA_READ)).status_code == 404
    assert keyed.get("/statistics/loose", headers=bearer(ALL_READ)).get_json()["count"] == 1


def test_all_orgs_keys_reach_every_sensor_and_claim_nothing(keyed, redis_client):
    keyed.post("/data", json=[reading("a1", 1)], headers=bearer(ALPHA_INGEST))
    assert keyed.post("/data", json=[reading("a1", 2), reading("free", 2)], headers=bearer(ALL_INGEST)).status_code == 200
    assert keyed.get("/statistics/a1", headers=bearer(ALL_READ)).get_json()["count"] == 2
    assert org_of(redis_client, "free") is None
    assert keyed.delete("/statistics/a1", headers=bearer(ALL_ADMIN)).status_code == 204


def test_an_org_admin_deletes_its_own_sensors_only(keyed):
    keyed.post("/data", json=[reading("a1")], headers=bearer(ALPHA_INGEST))
    keyed.post("/data", json=[reading("b1")], headers=bearer(BETA_INGEST))
    assert keyed.delete("/statistics/b1", headers=bearer(ALPHA_ADMIN)).status_code == 404
    assert keyed.get("/statistics/b1", headers=bearer(BETA_READ)).get_json()["count"] == 1
    assert keyed.delete("/statistics/a1", headers=bearer(ALPHA_ADMIN)).status_code == 204
    assert keyed.get("/statistics/a1", headers=bearer(ALPHA_READ)).get_json()["count"] == 0


def test_a_claim_lost_to_another_org_refuses_the_batch(keyed, redis_client, monkeypatch):
    # betacorp claims "race" between alphacorp's read of the owners and its claim.
    store = stores(keyed.application).readings
    real_sensor_meta = store.sensor_meta

    def read_then_lose_the_race(sensor_ids):
        found = real_sensor_meta(sensor_ids)
        register(redis_client, "race", "betacorp")
        return found

    monkeypatch.setattr(store, "sensor_meta", read_then_lose_the_race)
    response = keyed.post("/data", json=[reading("race")], headers=bearer(ALPHA_INGEST))
    assert response.status_code == 404
    assert org_of(redis_client, "race") == "betacorp"
    assert not redis_client.exists(keys.sensor("race"))


def test_post_data_reads_the_sensors_orgs_and_units_in_one_read_per_batch(keyed, redis_client, monkeypatch):
    sensors = [f"s{i}" for i in range(50)]
    keyed.post("/data", json=[reading(s) for s in sensors], headers=bearer(ALPHA_INGEST))
    store = stores(keyed.application).readings
    meta_reads, org_reads = [], []
    real_sensor_meta = store.sensor_meta
    monkeypatch.setattr(store, "sensor_meta", lambda ids: meta_reads.append(len(ids)) or real_sensor_meta(ids))
    monkeypatch.setattr(sensor_scope, "sensor_orgs", lambda ids: org_reads.append(len(ids)))
    batch = [reading(s, second) for s in sensors for second in (10, 11, 12)]
    assert keyed.post("/data", json=batch, headers=bearer(ALPHA_INGEST)).get_json()["accepted"] == 150
    assert (meta_reads, org_reads) == ([50], [])


def test_sensor_orgs_reads_each_sensors_org_in_order(make_app, redis_client):
    app = make_app()
    register(redis_client, "s1", "alphacorp")
    register(redis_client, "s3", "betacorp")
    with app.app_context():
        assert sensor_scope.sensor_orgs(["s1", "s2", "s3"]) == ["alphacorp", None, "betacorp"]


def test_a_unit_error_on_another_orgs_sensor_is_404_not_a_hint_of_its_kind(keyed, redis_client):
    redis_client.hset(keys.sensor_meta("b-hum"), mapping={"org": "betacorp", "kind": "humidity"})
    response = keyed.post("/data", json=[{**reading("b-hum"), "unit": "C"}], headers=bearer(ALPHA_INGEST))
    assert response.status_code == 404
    assert "humidity" not in response.get_data(as_text=True)


def test_a_rejected_batch_claims_no_sensor(keyed, redis_client):
    response = keyed.post("/data", json=[{**reading("a-cold"), "unit": "K", "value": -1}], headers=bearer(ALPHA_INGEST))
    assert response.status_code == 422
    assert org_of(redis_client, "a-cold") is None
    assert redis_client.dbsize() == 0


def test_thermometer_readings_cannot_reach_another_orgs_sensor(keyed, redis_client):
    register(redis_client, "b-thermo", "betacorp")
    body = {"siteId": "alpha-office", "orgId": "alphacorp", "temperature": 21.0, "timestamp": 1658739178, "sensorId": "b-thermo"}
    response = keyed.post("/v1/temperatures", json=body, headers=bearer(ALPHA_INGEST))
    assert response.status_code == 404
    assert not redis_client.exists(keys.sensor("b-thermo"))
    assert not redis_client.exists(keys.site("alpha-office"))


def test_an_invalid_thermometer_reading_beside_another_orgs_sensor_is_404_not_a_hint_of_its_kind(keyed, redis_client):
    # The 422 of an invalid item lists the other items' value problems too;
    # it must not be how another org's sensor shows its kind.
    redis_client.hset(keys.sensor_meta("b-hum"), mapping={"org": "betacorp", "kind": "humidity"})
    body = [
        {"siteId": "alpha-office", "orgId": "alphacorp", "temperature": "warm", "timestamp": 1658739178},
        {"siteId": "alpha-office", "orgId": "alphacorp", "temperature": 21.0, "timestamp": 1658739178, "sensorId": "b-hum"},
    ]
    response = keyed.post("/v1/temperatures", json=body, headers=bearer(ALPHA_INGEST))
    assert response.status_code == 404
    assert "humidity" not in response.get_data(as_text=True)
    assert not redis_client.exists(keys.site("alpha-office"))


def test_an_invalid_thermometer_reading_beside_another_orgs_site_is_404_not_a_hint_of_its_unit(keyed, redis_client):
    # betacorp's sites report in kelvin: -5 would be below absolute zero.
    keyed.put("/v1/orgs/betacorp", json={"unit": "K"}, headers=bearer(ALL_ADMIN))
    body = [
        {"siteId": "alpha-office", "orgId": "alphacorp", "temperature": "warm", "timestamp": 1658739178},
        {"siteId": "beta-office", "orgId": "betacorp", "temperature": -5, "timestamp": 1658739178},
    ]
    response = keyed.post("/v1/temperatures", json=body, headers=bearer(ALPHA_INGEST))
    assert response.status_code == 404
    assert "absolute zero" not in response.get_data(as_text=True)
    assert not redis_client.exists(keys.site("alpha-office")) and not redis_client.exists(keys.site("beta-office"))


def test_posting_thermometer_readings_reads_the_sensors_orgs_with_their_units(keyed, redis_client, monkeypatch):
    register(redis_client, "a-thermo", "alphacorp")
    org_reads = []
    monkeypatch.setattr(sensor_scope, "sensor_orgs", lambda ids: org_reads.append(list(ids)))
    body = [{"siteId": "alpha-office", "orgId": "alphacorp", "temperature": 21.0, "timestamp": 1658739178 + n,
             "sensorId": "a-thermo"} for n in range(3)]
    response = keyed.post("/v1/temperatures", json=body, headers=bearer(ALPHA_INGEST))
    assert response.status_code == 200 and response.get_json()["accepted"] == 3
    assert org_reads == []


def test_series_of_many_shows_another_orgs_sensor_as_unknown_like_a_missing_one(keyed):
    now = int(time.time())
    recent = lambda sensor: {"sensor": sensor, "timestamp": timeutil.us_to_iso((now - 120) * 1_000_000), "value": 20.0}  # noqa: E731
    assert keyed.post("/data", json=[recent("a-1")], headers=bearer(ALPHA_INGEST)).status_code == 200
    assert keyed.post("/data", json=[recent("b-1")], headers=bearer(BETA_INGEST)).status_code == 200
    query = {"sensors": "b-1,a-1,nobody", "start": now - 3600}
    alpha = keyed.get("/v1/series", query_string=query, headers=bearer(ALPHA_READ)).get_json()
    assert [s["sensor"] for s in alpha["series"]] == ["a-1"]
    assert alpha["unknown"] == ["b-1", "nobody"]
    everyone = keyed.get("/v1/series", query_string=query, headers=bearer(ALL_READ)).get_json()
    assert [s["sensor"] for s in everyone["series"]] == ["b-1", "a-1"]
    assert everyone["unknown"] == ["nobody"]
    assert keyed.get("/v1/series", query_string=query, headers=bearer(ALPHA_INGEST)).status_code == 403


def test_an_org_admin_registering_a_sensor_it_already_claimed_gets_201(keyed):
    keyed.post("/data", json=[reading("a-new")], headers=bearer(ALPHA_INGEST))
    response = keyed.put("/v1/sensors/a-new", json={"kind": "temperature"}, headers=bearer(ALPHA_ADMIN))
    assert response.status_code == 201
    again = keyed.put("/v1/sensors/a-new", json={"kind": "temperature"}, headers=bearer(ALPHA_ADMIN))
    assert again.status_code == 200


def test_a_registration_refused_for_a_mac_in_use_claims_nothing(keyed, redis_client):
    keyed.put("/v1/sensors/owner", json={"mac": "02:00:00:00:00:01"}, headers=bearer(ALL_ADMIN))
    response = keyed.put("/v1/sensors/a-dup", json={"mac": "02:00:00:00:00:01"}, headers=bearer(ALPHA_ADMIN))
    assert response.status_code == 409
    assert org_of(redis_client, "a-dup") is None


def test_an_org_key_sending_org_null_gets_a_422_naming_org(keyed, redis_client):
    site = {"id": "qq-1", "name": "Q", "location": "x"}
    assert keyed.post("/v1/sites", json=site, headers=bearer(ALPHA_ADMIN)).status_code == 201
    answers = [
        keyed.patch("/v1/sites/qq-1", json={"org": None}, headers=bearer(ALPHA_ADMIN)),
        keyed.put("/v1/sensors/x", json={"org": None, "kind": "temperature"}, headers=bearer(ALPHA_ADMIN)),
        keyed.post("/v1/sites", json={**site, "id": "qq-2", "org": None}, headers=bearer(ALPHA_ADMIN)),
    ]
    assert [answer.status_code for answer in answers] == [422] * 3
    for answer in answers:
        assert "org" in answer.get_json()["errors"]["json"]
        assert "None" not in answer.get_data(as_text=True)
    assert keyed.get("/v1/sites/qq-1", headers=bearer(ALPHA_READ)).get_json()["org"] == "alphacorp"
    assert not redis_client.exists(keys.sensor_meta("x"), keys.site("qq-2"))
    # For an all-orgs key null is no org.
    assert keyed.put("/v1/sensors/x", json={"org": None, "kind": "temperature"}, headers=bearer(ALL_ADMIN)).status_code == 201
    assert org_of(redis_client, "x") is None
