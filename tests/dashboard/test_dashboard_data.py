"""What the dashboard polls (GET /sensors, GET /v1/series) tells the truth:
too hot only on a hot site's thermometers and exactly as too hot or not
answers, one sensor per device, every registered sensor, stale values
marked, thermometer readings in the viewer's unit; and the empty page's
command sends a reading that works."""

from __future__ import annotations

import html
import subprocess
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit


def by_id(page: dict) -> dict[str, dict]:
    return {sensor["id"]: sensor for sensor in page["sensors"]}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def test_too_hot_is_a_hot_sites_thermometers_and_its_heading_as_toohotornot_answers(client):
    now = time.time()
    for sensor, kind in (("hq-temp", "temperature"), ("hq-humidity", "humidity"), ("hq-co2", "co2"),
                         ("hq-pressure", "pressure"), ("hq-temp-never-heard", "temperature")):
        assert client.put(f"/v1/sensors/{sensor}", json={"org": "acme", "site": "hq", "kind": kind}).status_code == 201
    # The simulator's way: readings of a site with no sensorId (the site is the sensor).
    hot = [{"siteId": "hq", "orgId": "acme", "sensorId": "hq-temp", "temperature": 29.5, "timestamp": now},
           {"siteId": "sim-site00001", "orgId": "sim-org000", "temperature": 31.0, "timestamp": now},
           {"siteId": "sim-site00002", "orgId": "sim-org000", "temperature": 20.0, "timestamp": now}]
    assert client.post("/v1/temperatures", json=hot).status_code == 200

    page = client.get("/sensors").json
    flags = {sensor_id: sensor["too_hot"] for sensor_id, sensor in by_id(page).items()}
    assert flags == {"hq-temp": True, "hq-humidity": False, "hq-co2": False, "hq-pressure": False,
                     "hq-temp-never-heard": False, "sim-site00001": True, "sim-site00002": False}
    assert page["too_hot_sites"] == ["hq", "sim-site00001"]
    for site in ("hq", "sim-site00001", "sim-site00002"):
        assert client.get(f"/v1/admin/toohotornot?siteId={site}").json["tooHot"] == (site in page["too_hot_sites"])


def test_a_sensor_fed_through_temperatures_shows_its_site_org_and_unit(client):
    assert client.put("/v1/orgs/us-org", json={"unit": "F"}).status_code in (200, 201)
    reading = {"siteId": "us-site", "orgId": "us-org", "temperature": 77.0, "timestamp": time.time()}
    assert client.post("/v1/temperatures", json=reading).status_code == 200
    sensor = by_id(client.get("/sensors").json)["us-site"]
    assert (sensor["site"], sensor["org"], sensor["kind"]) == ("us-site", "us-org", "temperature")
    assert sensor["last_reading"]["unit"] == "F" and sensor["last_reading"]["value"] == 77.0
    # The registry finds it under its site too; a later registration wins.
    assert [s["id"] for s in client.get("/v1/sensors?site=us-site").json["sensors"]] == ["us-site"]
    registered = {"org": "us-org", "site": "us-site", "building": "A", "room": "lab", "kind": "temperature", "unit": "C"}
    assert client.put("/v1/sensors/us-site", json=registered).status_code == 201
    assert by_id(client.get("/sensors").json)["us-site"]["last_reading"] == {
        "at": sensor["last_reading"]["at"], "value": 25.0, "unit": "C"}


def test_a_device_is_one_sensor_whether_known_by_id_mac_or_both(app, client):
    mac = "02:00:00:00:00:c1"
    # Heartbeats before the device was registered: heard of under its MAC.
    client.post("/heartbeat", json={"mac_address": mac})
    assert client.put("/v1/sensors/boiler-1", json={"org": "acme", "site": "hq", "kind": "temperature", "mac": mac}
                      ).status_code == 201
    client.post("/data", json=[{"sensor": "boiler-1", "timestamp": iso(time.time() - 3600), "value": 60}])
    page = client.get("/sensors").json
    assert list(by_id(page)) == ["boiler-1"] and page["total"] == 1
    boiler = page["sensors"][0]
    assert (boiler["mac_address"], boiler["org"], boiler["site"], boiler["status"]) == (mac, "acme", "hq", "online")


def test_every_registered_sensor_is_listed_the_never_heard_last_with_their_own_status(client):
    client.post("/data", json=[{"sensor": "heard-1", "timestamp": iso(time.time()), "value": 1}])
    for sensor in ("quiet-b", "quiet-a"):
        assert client.put(f"/v1/sensors/{sensor}", json={"org": "acme", "kind": "humidity"}).status_code == 201
    page = client.get("/sensors").json
    assert [(s["id"], s["status"]) for s in page["sensors"]] == [
        ("heard-1", "online"), ("quiet-a", "never_heard"), ("quiet-b", "never_heard")]
    assert page["total"] == 3
    paged = client.get("/sensors?limit=2&cursor=1").json
    assert [s["id"] for s in paged["sensors"]] == ["quiet-a", "quiet-b"] and paged["next_cursor"] is None
    assert [s["id"] for s in client.get("/sensors?org=acme").json["sensors"]] == ["quiet-a", "quiet-b"]


def test_a_reading_older_than_its_interval_or_offline_after_is_stale_even_on_an_online_sensor(client, settings):
    now = time.time()
    client.put("/v1/sensors/every-minute", json={"kind": "co2", "reading_interval": 60})
    client.put("/v1/sensors/hourly", json={"kind": "co2", "reading_interval": 3600})
    assert client.put("/v1/sensors/bad", json={"kind": "co2", "reading_interval": "1m"}).status_code == 422
    recent = iso(now - 120)  # two minutes: well within OFFLINE_AFTER
    assert now - 120 > now - settings.offline_after
    client.post("/data", json=[{"sensor": "old", "timestamp": "2022-03-01T12:00:00Z", "value": 5},
                               {"sensor": "new", "timestamp": iso(now), "value": 5},
                               {"sensor": "every-minute", "timestamp": recent, "value": 500},
                               {"sensor": "hourly", "timestamp": recent, "value": 500}])
    page = by_id(client.get("/sensors").json)
    assert {sensor_id: (sensor["status"], sensor["stale"]) for sensor_id, sensor in page.items()} == {
        "old": ("online", True), "new": ("online", False), "every-minute": ("online", True), "hourly": ("online", False)}
    assert client.get("/v1/sensors/every-minute").json["reading_interval"] == 60


def test_thermometer_readings_come_in_the_unit_asked_the_others_in_their_own(client):
    now = time.time()
    client.put("/v1/sensors/t-c", json={"kind": "temperature", "unit": "C"})
    client.put("/v1/sensors/h-1", json={"kind": "humidity"})
    client.post("/data", json=[{"sensor": "t-c", "timestamp": iso(now - 60), "value": 100},
                               {"sensor": "h-1", "timestamp": iso(now - 60), "value": 40}])
    page = by_id(client.get("/sensors?unit=F").json)
    assert (page["t-c"]["last_reading"]["value"], page["t-c"]["last_reading"]["unit"]) == (212.0, "F")
    assert (page["h-1"]["last_reading"]["value"], page["h-1"]["last_reading"]["unit"]) == (40.0, "%")
    series = client.get(f"/v1/series?sensors=t-c,h-1&unit=F&bucket=1h&start={iso(now - 7200)}").json["series"]
    assert [(one["unit"], one["points"][0]["max"]) for one in series] == [("F", 212.0), ("%", 40.0)]
    assert client.get("/sensors?unit=kelvins").status_code == 422


def test_the_empty_pages_command_sends_a_reading_that_is_stored(client):
    page = client.get("/", base_url="http://sensors.example:8080").get_data(as_text=True)
    assert "No sensors yet" in page
    shown = page.split('<code id="first-reading">', 1)[1].split("</code>", 1)[0]
    command = html.unescape(shown)
    assert command.startswith("curl ")
    # The shell's own reading of the command (its quoting, its $(date)), curl's part played by the test client.
    argv = subprocess.run(["bash", "-c", "printf '%s\\0' " + command[len("curl "):]], capture_output=True, check=True,
                          text=True).stdout.split("\0")[:-1]
    assert argv[:3] == ["-X", "POST", "http://sensors.example:8080/data"]
    headers = dict(argv[i + 1].split(": ", 1) for i, arg in enumerate(argv) if arg == "-H")
    url = urlsplit(argv[2])
    sent = client.post(url.path, data=argv[argv.index("-d") + 1], headers=headers, base_url=f"http://{url.netloc}")
    assert sent.status_code == 200, sent.json
    [sensor] = client.get("/sensors").json["sensors"]
    assert (sensor["id"], sensor["last_reading"]["value"], sensor["stale"]) == ("my-first-sensor", 21.5, False)
