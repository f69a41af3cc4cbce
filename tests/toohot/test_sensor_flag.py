"""The too-hot flag of GET /sensors: a sensor whose site (registry
metadata) has been too hot today, exactly as the site's answer says."""

from __future__ import annotations

from service.stores import stores

from .conftest import reading


def test_sensors_of_a_site_too_hot_today_carry_the_flag(client, post, answer, set_now):
    set_now("2024-07-15 18:00")
    client.put("/v1/sensors/t-hot", json={"org": "alphacorp", "site": "hot", "kind": "temperature"})
    client.put("/v1/sensors/t-cool", json={"org": "alphacorp", "site": "cool", "kind": "temperature"})
    client.put("/v1/sensors/t-nosite", json={"org": "alphacorp", "kind": "temperature"})
    client.put("/v1/sensors/t-yesterday", json={"org": "alphacorp", "site": "yesterday", "kind": "temperature"})
    client.put("/v1/sensors/t-unknown-site", json={"org": "alphacorp", "site": "nowhere", "kind": "temperature"})
    post([
        reading(site="hot", sensorId="t-hot", temperature=26.0, at="2024-07-15 10:00"),
        reading(site="cool", sensorId="t-cool", temperature=24.0, at="2024-07-15 10:00"),
        reading(site="yesterday", sensorId="t-yesterday", temperature=31.0, at="2024-07-14 15:00"),
    ])
    client.post("/data", json=[{"sensor": "t-nosite", "timestamp": "2024-07-15T08:00:00Z", "value": 40},
                               {"sensor": "t-unknown-site", "timestamp": "2024-07-15T08:00:00Z", "value": 40}])
    flags = {s["id"]: s["too_hot"] for s in client.get("/sensors").json["sensors"]}
    assert flags == {"t-hot": True, "t-cool": False, "t-nosite": False, "t-yesterday": False, "t-unknown-site": False}
    for site in ("hot", "cool", "yesterday"):
        assert answer(site)["tooHot"] == flags[f"t-{site}"]


def test_too_hot_today_follows_each_sites_threshold_and_time_zone(app, client, post, set_now):
    set_now("2024-07-15 23:30")  # Brussels; already the 16th in Tokyo
    client.put("/v1/orgs/alphacorp", json={"threshold": 30})
    post([reading(site="warm", temperature=28.0, at="2024-07-15 10:00"),
          reading(site="tokyo", temperature=35.0, at="2024-07-15 10:00")])
    client.patch("/v1/sites/tokyo", json={"timezone": "Asia/Tokyo"})
    store = stores(app).toohot
    assert store.too_hot_today(["warm", "tokyo", "missing"]) == {"warm": False, "tokyo": False, "missing": False}
    client.patch("/v1/sites/warm", json={"threshold": 27.5})
    client.patch("/v1/sites/tokyo", json={"timezone": "Europe/Brussels"})
    assert store.too_hot_today(["warm", "tokyo"]) == {"warm": True, "tokyo": True}


def test_flags_survive_a_flushed_script_cache(app, clean_redis):
    clean_redis.script_flush()
    assert stores(app).toohot.too_hot_today(["nowhere"]) == {"nowhere": False}
