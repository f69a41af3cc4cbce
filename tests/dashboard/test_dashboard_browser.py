"""The dashboard in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against a real gunicorn that also
runs the background worker (WORKER=1), all on loopback."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from service.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.slow


def require_browser():
    if CHROMIUM and os.path.exists(CHROMEDRIVER):
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI needs Debian's chromium and chromium-driver for the dashboard test (.ci/run installs them)")
    pytest.skip("chromium/chromium-driver not installed (apt-get install chromium chromium-driver)")


def start_server(redis_url, redis_cluster_mode, **extra_env):
    port = free_port()
    env = {
        **os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0",
        "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "WORKER": "1",
        "OFFLINE_AFTER": "3", "OFFLINE_CHECK_INTERVAL": "0.2", "LOG_REQUESTS": "0", "LOG_LEVEL": "WARNING",
        "GUNICORN_LOG_LEVEL": "warning", **extra_env,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [str(Path(os.sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "service.wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 204:
                break
        except requests.RequestException:  # refused, or too slow to answer yet
            pass
        if process.poll() is not None or time.monotonic() >= deadline:
            stop_server(process)
            raise AssertionError("gunicorn did not become ready")
        time.sleep(0.1)
    return process, base


def stop_server(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def server(redis_url, redis_cluster_mode, clean_redis):
    process, base = start_server(redis_url, redis_cluster_mode)
    yield base
    stop_server(process)


READ_KEY = "dashboard-read-key-5f2c9e7a1b3d8f40"
ADMIN_KEY = "dashboard-admin-key-8a1d4c7e2f9b3a60"


@pytest.fixture
def keyed_server(redis_url, redis_cluster_mode, clean_redis):
    api_keys = {READ_KEY: {"role": "read", "org": "acme"}, ADMIN_KEY: {"role": "admin", "org": "*"}}
    process, base = start_server(redis_url, redis_cluster_mode, API_KEYS=json.dumps(api_keys))
    yield base
    stop_server(process)


@pytest.fixture
def browser():
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sensorhub-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1000,800"):
        options.add_argument(flag)
    # Network events (statuses of the page's requests) for received_statuses().
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def card(driver, sensor_id):
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'article.card[data-sensor="{sensor_id}"]')
    return found[0] if found else None


def received_statuses(driver, url_part: str) -> list[int]:
    """HTTP statuses, as sent by the server, of the page's requests whose
    URL holds url_part since the last call (Chrome's performance log,
    drained; Network.responseReceived shows a revalidated copy as 200, its
    ExtraInfo the 304 received)."""
    # A request's URL may come in one drain, its response in the next.
    urls, statuses = driver.__dict__.setdefault("sensorhub_request_urls", {}), []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.responseReceivedExtraInfo" and url_part in urls.get(params["requestId"], ""):
            statuses.append(params["statusCode"])
    return statuses


def wait_until(condition, timeout, what, keep_alive=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if keep_alive:
            keep_alive()
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def by_css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def iso_ago(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def history(sensor: str, middle: float, swing: float, hours: float = 5) -> list[dict]:
    """A reading every 10 minutes over the last ``hours``, swinging around ``middle``."""
    count = int(hours * 6)
    return [{"sensor": sensor, "timestamp": iso_ago((count - n) * 600),
             "value": round(middle + swing * math.sin(n / 4) + swing * n / count, 2)} for n in range(count)]


def registered_fleet(base: str, headers: dict | None = None) -> dict[str, list[dict]]:
    """Registered sensors with a few hours of readings; returns each one's latest reading
    (posting it again keeps the sensor online)."""
    headers = headers or {}
    sensors = {
        "lobby-1": ({"org": "acme", "site": "hq", "building": "B1", "room": "lobby", "kind": "temperature",
                     "unit": "F", "name": "Lobby"}, history("lobby-1", 68.0, 1.5)),
        "meeting-2": ({"org": "acme", "site": "hq", "building": "B1", "room": "meeting", "kind": "humidity",
                       "name": "Meeting room"}, history("meeting-2", 42.0, 4.0)),
        "office-3": ({"org": "acme", "site": "annex", "building": "A", "room": "office", "kind": "temperature",
                      "name": "Corner office"}, history("office-3", 23.5, 0.8)),
        "b-lab": ({"org": "betacorp", "site": "labs", "building": "L", "room": "clean", "kind": "temperature"},
                  history("b-lab", 19.0, 0.3)),
    }
    latest = {}
    for sensor, (metadata, readings) in sensors.items():
        assert requests.put(f"{base}/v1/sensors/{sensor}", json=metadata, headers=headers, timeout=5).status_code == 201
        assert requests.post(base + "/data", json=readings, headers=headers, timeout=5).status_code == 200
        latest[sensor] = readings[-1:]
    # The annex is too hot today (too hot or not's ingest, the site's own day).
    hot = {"siteId": "annex", "orgId": "acme", "sensorId": "office-3", "temperature": 29.5, "timestamp": time.time()}
    assert requests.post(base + "/v1/temperatures", json=hot, headers=headers, timeout=5).status_code == 200
    return latest


def group_of(driver, sensor_id) -> tuple[str, str]:
    """(org · site heading, building / room heading) of a sensor's card."""
    return tuple(driver.execute_script(
        "var c = arguments[0]; return [c.closest('section.group').querySelector('h2 .site-name').textContent,"
        " c.closest('div.room').querySelector('h3').textContent];", card(driver, sensor_id)))


def sparkline_drawn(driver, sensor_id) -> bool:
    found = card(driver, sensor_id)
    return found is not None and bool(driver.execute_script(
        "var s = arguments[0].querySelector('svg.spark'); return !s.hasAttribute('hidden') && "
        "s.querySelectorAll('polyline').length === 1 && s.querySelector('polyline').getAttribute('points').split(' ').length > 10;",
        found))


def test_dashboard_shows_new_sensors_and_offline_ones_without_reload(server, browser):
    silent, alive = "02:00:00:00:00:aa", "02:00:00:00:00:bb"
    latest = registered_fleet(server)

    def beat(mac):
        assert requests.post(server + "/heartbeat", json={"mac_address": mac}, timeout=5).status_code == 200

    def keep_alive():
        beat(alive)
        for readings in latest.values():
            requests.post(server + "/data", json=readings, timeout=5)

    beat(silent)
    browser.get(server + "/")
    wait_until(lambda: card(browser, silent) is not None, 10, "the first sensor's card")
    assert card(browser, silent).get_attribute("data-status") == "online"

    # A registered sensor sits under its org · site and building / room, its
    # value in the viewer's unit (°C unless switched; declared in °F), with a sparkline.
    wait_until(lambda: card(browser, "lobby-1") is not None, 10, "the registered sensor's card")
    assert group_of(browser, "lobby-1") == ("acme · hq", "B1 / lobby")
    assert group_of(browser, "office-3") == ("acme · annex", "A / office")
    lobby = card(browser, "lobby-1")
    assert lobby.find_element("css selector", ".name").text == "Lobby"
    assert lobby.find_element("css selector", ".value").text == f"{(latest['lobby-1'][0]['value'] - 32) / 1.8:.1f}"
    assert lobby.find_element("css selector", ".unit").text == "°C"
    assert card(browser, "meeting-2").find_element("css selector", ".unit").text == "%"
    wait_until(lambda: sparkline_drawn(browser, "lobby-1"), 10, "the sparkline of a sensor with readings")
    # In the card's unit; the sparklines of all cards come from GET /v1/series, not one request each.
    assert "°C" in lobby.find_element("css selector", "svg.spark").get_attribute("aria-label")
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert any("/v1/series?sensors=" in url for url in fetched)
    assert not any("/series" in url and "/v1/sensors/" in url for url in fetched)
    # Heartbeats only: no reading, no sparkline (and no room kept for one).
    assert not card(browser, silent).find_element("css selector", "svg.spark").is_displayed()
    # Too hot today: the badge shows on the annex's sensor only.
    assert card(browser, "office-3").find_element("css selector", ".badge").is_displayed()
    assert not card(browser, "lobby-1").find_element("css selector", ".badge").is_displayed()

    beat(alive)  # added after the page was opened
    wait_until(lambda: card(browser, alive) is not None, 10, "the new sensor to appear", keep_alive=keep_alive)
    assert group_of(browser, alive) == ("no org · no site", "no room")

    # The silent sensor turns offline (OFFLINE_AFTER = 3 s) while the others stay online.
    wait_until(lambda: "offline" in card(browser, silent).get_attribute("class"), 15, "the silent sensor to go offline",
               keep_alive=keep_alive)
    assert card(browser, alive).get_attribute("data-status") == "online"
    assert card(browser, "lobby-1").get_attribute("data-status") == "online"
    assert "offline" in card(browser, silent).text.lower()

    # The worker started by gunicorn recorded the transition as an event.
    wait_until(lambda: any(e["sensor"] == silent for e in requests.get(
        server + "/v1/events?type=sensor.offline", timeout=5).json()["events"]), 10, "the offline event")

    OUTPUT.mkdir(exist_ok=True)
    keep_alive()
    browser.set_window_size(1280, 1250)
    browser.save_screenshot(str(OUTPUT / "dashboard.png"))
    # On a phone: one column, nothing wider than the screen.
    browser.set_window_size(400, 900)
    wait_until(lambda: browser.execute_script("return document.documentElement.clientWidth") <= 400, 5, "the narrow window")
    assert browser.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    browser.save_screenshot(str(OUTPUT / "dashboard-phone.png"))

    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "filter").send_keys(":bb")
    wait_until(lambda: not card(browser, silent).is_displayed() and card(browser, alive).is_displayed(), 5,
               "the filter to hide the other sensor")
    assert not card(browser, "lobby-1").is_displayed()


def test_dashboard_with_api_keys_asks_for_a_read_key_and_shows_that_orgs_sensors(keyed_server, browser):
    registered_fleet(keyed_server, {"X-API-Key": ADMIN_KEY})
    browser.get(keyed_server + "/")  # the page itself needs no key
    from selenium.webdriver.common.by import By

    key_field = browser.find_element(By.ID, "api-key")
    wait_until(key_field.is_displayed, 5, "the key form")
    wait_until(lambda: "API key" in browser.find_element(By.ID, "summary").text, 10, "the request for a key")
    assert by_css(browser, "article.card") == []
    key_field.send_keys(READ_KEY)
    key_field.submit()
    wait_until(lambda: card(browser, "lobby-1") is not None, 10, "the org's sensors")
    wait_until(lambda: sparkline_drawn(browser, "lobby-1"), 10, "the sparkline, fetched with the key")
    assert card(browser, "b-lab") is None  # another org's sensor
    assert not key_field.is_displayed()
    # The key is remembered for this browser session (not beyond): a reload needs no typing.
    browser.refresh()
    wait_until(lambda: card(browser, "office-3") is not None, 10, "the sensors after a reload")
    assert browser.execute_script("return window.sessionStorage.getItem('sensorhub.apiKey')") == READ_KEY
    assert browser.execute_script("return window.localStorage.getItem('sensorhub.apiKey')") is None


# Wraps fetch in the page so that GET /sensors answers one sensor whose
# last_reading cannot even be read (the card that cannot be drawn), listed in
# id order so that the broken cards come before the good ones.
BREAK_ONE_CARD = r"""
(function () {
  var realFetch = window.fetch;
  window.fetch = function (url, options) {
    return realFetch(url, options).then(function (response) {
      if (!/^\/sensors(\/changes)?\?/.test(String(url))) return response;
      var realJson = response.json.bind(response);
      response.json = function () {
        return realJson().then(function (doc) {
          doc.sensors.sort(function (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; });
          doc.sensors.forEach(function (s) {
            if (s.id === "a-bad") {
              Object.defineProperty(s, "last_reading", {get: function () { throw new Error("unreadable reading"); }});
            }
          });
          return doc;
        });
      };
      return response;
    });
  };
})();
"""


def test_a_null_value_or_a_card_that_cannot_be_drawn_never_stops_the_others(server, browser, redis_client):
    from service import keys

    readings = [{"sensor": sensor, "timestamp": iso_ago(60), "value": 21.5} for sensor in ("a-bad", "b-null", "c-ok")]
    # Values near ±1.8e308 (a sensor of no kind stores any finite number): the
    # sparkline's range overflows a plain subtraction.
    readings += [{"sensor": "d-huge", "timestamp": iso_ago(seconds), "value": value}
                 for seconds, value in ((7200, 1.7e308), (3600, -1.7e308), (60, 1e308))]
    assert requests.post(server + "/data", json=readings, timeout=5).status_code == 200
    # A stored value the API answers as null (only data broken before finite numbers has one).
    redis_client.hset(keys.sensor("b-null"), "last_value", "inf")
    assert requests.get(server + "/v1/sensors/b-null", timeout=5).json()["last_reading"]["value"] is None

    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": BREAK_ONE_CARD})
    browser.get(server + "/")
    wait_until(lambda: card(browser, "c-ok") is not None, 10, "the card after the broken ones")
    assert card(browser, "c-ok").find_element("css selector", ".value").text == "21.5"
    assert card(browser, "b-null").find_element("css selector", ".value").text == "—"
    bad = card(browser, "a-bad")
    assert "broken" in bad.get_attribute("class")
    assert "unreadable reading" in bad.find_element("css selector", ".error").text
    summary = browser.find_element("id", "summary")
    assert "4 sensors" in summary.text and "error" not in summary.get_attribute("class")
    assert card(browser, "d-huge").find_element("css selector", ".value").text == "1.00e+308"

    def huge_sparkline():
        return browser.execute_script(
            "var s = arguments[0].querySelector('svg.spark'); var line = s.querySelector('polyline');"
            "return !s.hasAttribute('hidden') && line !== null ? line.getAttribute('points') : null;",
            card(browser, "d-huge"))

    wait_until(lambda: huge_sparkline() is not None, 10, "the sparkline of huge values")
    assert "NaN" not in huge_sparkline() and "Infinity" not in huge_sparkline()


def cards_in_room_of(driver, sensor_id) -> list[str]:
    """The sensor ids of the cards in the room of a sensor's card, in page order."""
    return driver.execute_script(
        "return Array.prototype.map.call(arguments[0].closest('div.cards').children,"
        " function (c) { return c.dataset.sensor; });", card(driver, sensor_id))


def text_of(driver, sensor_id, selector) -> str:
    return card(driver, sensor_id).find_element("css selector", selector).text


HOSTILE_NAME = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'


def test_dashboard_tells_the_truth_from_an_empty_install_to_a_mixed_fleet(server, browser, tmp_path):
    """Screenshots of each state: tmp_path/dashboard-*.png."""
    from selenium.webdriver.common.by import By

    # Empty: what to send, and a command that works.
    browser.get(server + "/")
    empty = browser.find_element(By.ID, "empty")
    wait_until(empty.is_displayed, 10, "the empty install's instructions")
    # Idle: the next poll of the changes feed asks with its ETag and gets a 304 (no body).
    statuses = []
    wait_until(lambda: 304 in statuses or statuses.extend(received_statuses(browser, "/sensors/changes?")), 10,
               "a 304 to an idle poll")
    browser.save_screenshot(str(tmp_path / "dashboard-empty.png"))
    command = browser.find_element(By.ID, "first-reading").text
    if shutil.which("curl"):
        sent = subprocess.run(["bash", "-c", command + " --silent --fail"], capture_output=True, text=True, timeout=20)
        assert sent.returncode == 0, sent.stderr
    else:  # the request the command makes
        requests.post(server + "/data", json={"sensor": "my-first-sensor", "timestamp": time.time(), "value": 21.5})
    wait_until(lambda: card(browser, "my-first-sensor") is not None, 10, "the first sensor's card")
    assert not empty.is_displayed()

    mac = "02:00:00:00:00:d1"
    sensors = {
        "hq-temp": {"kind": "temperature", "room": "open-space", "name": "Hq temp", "unit": "F"},  # sent in °C below
        "aa-humid": {"kind": "humidity", "room": "open-space", "name": "Aa humidity"},
        "zz-silent": {"kind": "humidity", "room": "open-space", "name": "Zz silent"},
        "hq-co2": {"kind": "co2", "room": "hall"},
        "door-1": {"kind": "temperature", "room": "hall", "mac": mac},
        "new-1": {"kind": "temperature", "room": "hall"},
        "old-1": {"kind": "temperature", "room": "storage"},
        "xss-1": {"kind": "temperature", "room": "storage", "name": HOSTILE_NAME},
    }
    requests.post(server + "/heartbeat", json={"mac_address": mac}, timeout=5)  # heard before it was registered
    for sensor, metadata in sensors.items():
        body = {"org": "acme", "site": "hq", "building": "B1", **metadata}
        assert requests.put(f"{server}/v1/sensors/{sensor}", json=body, timeout=5).status_code == 201
    requests.post(server + "/data", json=[{"sensor": "zz-silent", "timestamp": time.time(), "value": 40}], timeout=5)

    def keep_alive():
        now = time.time()
        requests.post(server + "/heartbeat", json={"mac_address": mac}, timeout=5)
        requests.post(server + "/data", timeout=5, json=[
            {"sensor": "aa-humid", "timestamp": now, "value": 41}, {"sensor": "hq-co2", "timestamp": now, "value": 600},
            {"sensor": "xss-1", "timestamp": now, "value": 21}, {"sensor": "my-first-sensor", "timestamp": now, "value": 21.5},
            {"sensor": "old-1", "timestamp": "2022-03-01T12:00:00Z", "value": 19.0}])
        # The hq site too hot (its thermometer), and one of the fleet simulator's sites (no sensorId).
        requests.post(server + "/v1/temperatures", timeout=5, json=[
            {"siteId": "hq", "orgId": "acme", "sensorId": "hq-temp", "temperature": 29.5, "unit": "C",
             "timestamp": now},
            {"siteId": "sim-site00001", "orgId": "sim-org000", "temperature": 31.0, "timestamp": now}])

    keep_alive()
    wait_until(lambda: card(browser, "sim-site00001") is not None and card(browser, "new-1") is not None
               and card(browser, "zz-silent").get_attribute("data-status") == "offline", 15,
               "the fleet, with the silent sensor offline", keep_alive=keep_alive)
    keep_alive()
    browser.set_window_size(1280, 1400)
    browser.save_screenshot(str(tmp_path / "dashboard-fleet.png"))

    # Too hot: the hot site's heading and thermometer, not its other sensors; the simulator's site too.
    assert card(browser, "hq-temp").find_element(By.CSS_SELECTOR, ".badge").is_displayed()
    for other in ("aa-humid", "hq-co2", "zz-silent", "new-1"):
        assert not card(browser, other).find_element(By.CSS_SELECTOR, ".badge").is_displayed()
    assert group_of(browser, "sim-site00001") == ("sim-org000 · sim-site00001", "no room")
    assert card(browser, "sim-site00001").find_element(By.CSS_SELECTOR, ".badge").is_displayed()
    hot_headings = [h.text for h in by_css(browser, "section.group h2") if "too hot" in h.text.lower()]
    assert sorted(hot_headings) == ["acme · hq\nTOO HOT", "sim-org000 · sim-site00001\nTOO HOT"]
    # Offline and too hot first in their room.
    assert cards_in_room_of(browser, "aa-humid") == ["hq-temp", "zz-silent", "aa-humid"]
    # One card per device; the never heard shown as such; a stale value says how old it is.
    assert card(browser, mac) is None and text_of(browser, "door-1", ".status") == "ONLINE"
    assert text_of(browser, "new-1", ".status") == "NEVER HEARD"
    assert text_of(browser, "old-1", ".status") == "ONLINE"
    assert text_of(browser, "old-1", ".stale-note").startswith("stale: reading ") and " y old" in text_of(
        browser, "old-1", ".stale-note")
    assert not card(browser, "aa-humid").find_element(By.CSS_SELECTOR, ".stale-note").is_displayed()
    # A name with HTML in it is text.
    assert text_of(browser, "xss-1", ".name") == HOSTILE_NAME
    assert card(browser, "xss-1").find_elements(By.CSS_SELECTOR, "img, script") == []
    assert browser.execute_script("return window.pwned === undefined")

    # One unit for the viewer: °C, then °F after the switch (thermometers only), kept over a reload.
    assert {text_of(browser, s, ".unit") for s in ("hq-temp", "sim-site00001", "old-1")} == {"°C"}
    browser.find_element(By.CSS_SELECTOR, '#unit-switch button[data-unit="F"]').click()
    wait_until(lambda: text_of(browser, "sim-site00001", ".unit") == "°F", 10, "°F", keep_alive=keep_alive)
    assert text_of(browser, "sim-site00001", ".value") == "87.8"
    assert text_of(browser, "aa-humid", ".unit") == "%"
    browser.save_screenshot(str(tmp_path / "dashboard-fahrenheit.png"))
    browser.refresh()
    wait_until(lambda: card(browser, "hq-temp") is not None and text_of(browser, "hq-temp", ".unit") == "°F", 10,
               "°F after a reload", keep_alive=keep_alive)


def test_a_card_opens_its_sensors_page_with_chart_range_picker_metadata_events_and_csv(keyed_server, browser, tmp_path):
    """Screenshot: tmp_path/sensor-page.png."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    admin, read = {"X-API-Key": ADMIN_KEY}, {"X-API-Key": READ_KEY}
    metadata = {"org": "acme", "site": "annex", "building": "A", "room": "lab", "kind": "temperature",
                "name": HOSTILE_NAME}
    assert requests.put(f"{keyed_server}/v1/sensors/lab-7", json=metadata, headers=admin, timeout=5).status_code == 201
    # One reading in each of six 5-minute buckets (the 24 h range's), at known instants.
    aligned = int(time.time()) // 300 * 300
    posted = {aligned - 600 * n: round(20.0 + n * 0.75, 2) for n in range(1, 7)}
    readings = [{"sensor": "lab-7", "timestamp": at, "value": value} for at, value in posted.items()]
    assert requests.post(keyed_server + "/data", json=readings, headers=admin, timeout=5).status_code == 200
    # The annex is a too-hot site (its threshold: the default 25 °C).
    hot = {"siteId": "annex", "orgId": "acme", "temperature": 21.0, "timestamp": time.time()}
    assert requests.post(keyed_server + "/v1/temperatures", json=hot, headers=admin, timeout=5).status_code == 200
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})

    browser.get(keyed_server + "/")
    key_field = browser.find_element(By.ID, "api-key")
    wait_until(key_field.is_displayed, 5, "the key form")
    key_field.send_keys(READ_KEY)
    key_field.submit()
    wait_until(lambda: card(browser, "lab-7") is not None, 10, "the sensor's card")
    # The key lasts for this browser session only.
    assert browser.execute_script("return window.sessionStorage.getItem('sensorhub.apiKey')") == READ_KEY
    assert browser.execute_script("return window.localStorage.getItem('sensorhub.apiKey')") is None
    # Silent for OFFLINE_AFTER (3 s): the worker records it going offline.
    wait_until(lambda: requests.get(keyed_server + "/v1/events?sensor=lab-7", headers=read, timeout=5).json()["events"],
               15, "the sensor's offline event")

    card(browser, "lab-7").send_keys(Keys.ENTER)  # cards are focusable; Enter opens them as a click does
    wait_until(lambda: browser.execute_script("return !!(window.sensorhub.chart && document.getElementById("
                                              "'sensor-chart').dataset.series)"), 10, "the sensor page's chart")
    assert browser.execute_script("return location.hash") == "#/sensors/lab-7"
    assert not browser.find_element(By.ID, "grid").is_displayed()
    series_url = browser.find_element(By.ID, "sensor-chart").get_attribute("data-series")
    assert "bucket=5m" in series_url and "unit=C" in series_url
    start, end = (int(part.split("=")[1]) for part in series_url.split("?")[1].split("&")[:2])
    assert end - start == 86400
    xs, avg, low, high, threshold = browser.execute_script("return window.sensorhub.chart.data")
    answer = requests.get(keyed_server + series_url, headers=read, timeout=5).json()
    assert xs == [datetime.fromisoformat(p["t"].replace("Z", "+00:00")).timestamp() for p in answer["points"]]
    assert avg == [p["avg"] for p in answer["points"]] and low == [p["min"] for p in answer["points"]]
    assert high == [p["max"] for p in answer["points"]]
    assert dict(zip(xs, avg, strict=True)) == posted and threshold == [25] * len(posted)
    # Name and metadata as text; the status history.
    assert browser.find_element(By.ID, "sensor-title").text == HOSTILE_NAME
    assert browser.find_element(By.CSS_SELECTOR, '#sensor-meta dd[data-field="name"]').text == HOSTILE_NAME
    assert browser.find_element(By.CSS_SELECTOR, '#sensor-meta dd[data-field="room"]').text == "lab"
    assert browser.find_elements(By.CSS_SELECTOR, "#sensor-page img, #sensor-page script") == []
    assert browser.execute_script("return window.pwned === undefined")
    assert "went offline" in browser.find_element(By.ID, "sensor-events").text
    browser.set_window_size(1280, 1000)
    browser.save_screenshot(str(tmp_path / "sensor-page.png"))

    # The CSV link, with the key, downloads the sensor's rows of the range.
    browser.find_element(By.ID, "sensor-csv").click()
    wait_until(lambda: list(tmp_path.glob("lab-7-*.csv")), 10, "the CSV download")
    rows = list(tmp_path.glob("lab-7-*.csv"))[0].read_text().splitlines()
    assert rows[0].startswith("sensor,time,source,unit,value")
    assert sorted(float(row.split(",")[4]) for row in rows[1:]) == sorted(posted.values())

    # The range picker and the unit switch change the request; the chart follows.
    browser.find_element(By.CSS_SELECTOR, '#sensor-ranges button[data-range="7d"]').click()
    wait_until(lambda: "range=7d" in browser.execute_script("return location.hash") and browser.find_element(
        By.ID, "sensor-chart").get_attribute("data-series") != series_url, 10, "the 7 d range")
    week_url = browser.find_element(By.ID, "sensor-chart").get_attribute("data-series")
    start, end = (int(part.split("=")[1]) for part in week_url.split("?")[1].split("&")[:2])
    assert end - start == 7 * 86400 and "bucket=5m" not in week_url
    # A custom range (the browser's local time, to the minute): 1-minute buckets, the posted values again.
    browser.execute_script(
        "function local(s) { var d = new Date(s * 1000); return new Date(d - d.getTimezoneOffset() * 60000)"
        ".toISOString().slice(0, 16); }"
        "document.getElementById('sensor-start').value = local(arguments[0]);"
        "document.getElementById('sensor-end').value = local(arguments[1]);", aligned - 3 * 3600, aligned + 60)
    browser.find_element(By.CSS_SELECTOR, "#sensor-custom button[type=submit]").click()
    wait_until(lambda: f"start={aligned - 3 * 3600}&end={aligned + 60}&bucket=1m" in (
        browser.find_element(By.ID, "sensor-chart").get_attribute("data-series") or ""), 10, "the custom range")
    xs, avg = browser.execute_script("return window.sensorhub.chart.data.slice(0, 2)")
    assert dict(zip(xs, avg, strict=True)) == posted
    browser.find_element(By.CSS_SELECTOR, '#unit-switch button[data-unit="F"]').click()
    wait_until(lambda: "unit=F" in (browser.find_element(By.ID, "sensor-chart").get_attribute("data-series") or ""),
               10, "the series in °F")
    fahrenheit = browser.execute_script("return window.sensorhub.chart.data[4]")
    assert fahrenheit == [77] * len(fahrenheit)  # the threshold, 25 °C

    browser.find_element(By.ID, "sensor-back").click()
    wait_until(lambda: card(browser, "lab-7").is_displayed(), 10, "the overview again")
    assert not browser.find_element(By.ID, "sensor-page").is_displayed()
