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


def screenshot(driver, name: str, element=None) -> Path:
    """A screenshot kept as a test artifact: test-output/<name> (git-ignored);
    of one element when given."""
    OUTPUT.mkdir(exist_ok=True)
    if element is None:
        driver.save_screenshot(str(OUTPUT / name))
    else:
        element.screenshot(str(OUTPUT / name))
    return OUTPUT / name


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

    keep_alive()
    browser.set_window_size(1280, 1250)
    screenshot(browser, "dashboard.png")
    # On a phone: one column, nothing wider than the screen.
    browser.set_window_size(400, 900)
    wait_until(lambda: browser.execute_script("return document.documentElement.clientWidth") <= 400, 5, "the narrow window")
    assert browser.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    screenshot(browser, "dashboard-phone.png")

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


def test_dashboard_tells_the_truth_from_an_empty_install_to_a_mixed_fleet(server, browser):
    """Screenshots of each state: test-output/dashboard-*.png."""
    from selenium.webdriver.common.by import By

    # Empty: what to send, and a command that works.
    browser.get(server + "/")
    empty = browser.find_element(By.ID, "empty")
    wait_until(empty.is_displayed, 10, "the empty install's instructions")
    # Idle: the next poll of the changes feed asks with its ETag and gets a 304 (no body).
    statuses = []
    wait_until(lambda: 304 in statuses or statuses.extend(received_statuses(browser, "/sensors/changes?")), 10,
               "a 304 to an idle poll")
    screenshot(browser, "dashboard-empty.png")
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
    screenshot(browser, "dashboard-fleet.png")

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
    screenshot(browser, "dashboard-fahrenheit.png")
    browser.refresh()
    wait_until(lambda: card(browser, "hq-temp") is not None and text_of(browser, "hq-temp", ".unit") == "°F", 10,
               "°F after a reload", keep_alive=keep_alive)


def test_a_card_opens_its_sensors_page_with_chart_range_picker_metadata_events_and_csv(keyed_server, browser, tmp_path):
    """Screenshot: test-output/sensor-page.png."""
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
    screenshot(browser, "sensor-page.png")

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


# -- live, idle, keyboard, contrast, phone --------------------------------


@pytest.fixture
def quiet_server(redis_url, redis_cluster_mode, clean_redis):
    """A server where no status turns by itself while a test watches (OFFLINE_AFTER an hour)."""
    process, base = start_server(redis_url, redis_cluster_mode, OFFLINE_AFTER="3600")
    yield base
    stop_server(process)


def put_fleet(base: str, count: int, seed: int = 7) -> None:
    """``count`` registered thermometers in 2 sites with varied names and a reading each."""
    import random

    chooser = random.Random(seed)
    session = requests.Session()
    for index in range(count):
        meta = {"org": "acme", "site": f"site-{index % 2}", "building": "B", "room": f"room-{index % 7}",
                "kind": "temperature", "name": f"Sensor {chooser.getrandbits(64):016x}"}
        assert session.put(f"{base}/v1/sensors/t-{index:04d}", json=meta, timeout=5).status_code == 201
    readings = [{"sensor": f"t-{index:04d}", "timestamp": time.time() - 30, "value": round(chooser.uniform(15, 30), 2)}
                for index in range(count)]
    assert session.post(base + "/data", json=readings, timeout=30).status_code == 200


def live_polls(driver) -> int:
    return driver.execute_script("return window.sensorhub.live.polls")


def test_a_reading_posted_with_the_page_open_shows_on_its_card_within_2_s(quiet_server, browser):
    """The delay from the POST's answer to the card showing the value, for
    several readings; the page is not reloaded (a mark set on it stays)."""
    put_fleet(quiet_server, 20)
    browser.get(quiet_server + "/")
    wait_until(lambda: card(browser, "t-0003") is not None, 10, "the fleet's cards")
    browser.execute_script("window.__notReloaded = true")
    polls = live_polls(browser)
    wait_until(lambda: live_polls(browser) >= polls + 3, 10, "the page polling")
    delays = []
    for n in range(5):
        value = 40.5 + n
        sent = requests.post(quiet_server + "/data", json={"sensor": "t-0003", "timestamp": time.time(), "value": value},
                             timeout=5)
        answered = time.monotonic()
        assert sent.status_code == 200
        shown = f"{value:.1f}"
        while time.monotonic() - answered < 5 and text_of(browser, "t-0003", ".value") != shown:
            time.sleep(0.02)
        delays.append(time.monotonic() - answered)
        assert text_of(browser, "t-0003", ".value") == shown, f"reading {n} not shown after 5 s"
        time.sleep(0.3 * n)  # readings at different moments of the page's 1 s poll
    print(f"\nreading to card: median {sorted(delays)[2]:.2f} s, max {max(delays):.2f} s ({delays})")
    assert max(delays) <= 2.0, f"a reading took {max(delays):.2f} s to show: {delays}"
    assert browser.execute_script("return window.__notReloaded === true")
    # Only the changes feed carried them: not a full listing since the page opened.
    listed = [url for url in browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })") if "/sensors?" in url]
    assert all("cursor=" in url for url in listed) and len(listed) <= 2


def test_an_idle_page_polls_the_changes_feed_conditionally_and_nothing_else(quiet_server, browser):
    """Idle: every request is a 304 of the changes feed (headers only), no
    listing and no sparkline is asked again, and the bytes of the window are
    fewer than one listing of the fleet would take (compressed as sent)."""
    count = 400
    put_fleet(quiet_server, count)
    browser.get(quiet_server + "/")
    wait_until(lambda: len(by_css(browser, "article.card")) == count, 20, "every card")
    wait_until(lambda: browser.execute_script(
        "return !arguments[0].querySelector('svg.spark').hasAttribute('hidden')", card(browser, "t-0001")), 10,
        "the sparklines")
    time.sleep(3)  # past the overlap of the readings posted before the page opened
    urls = {}
    def drain():
        done = []
        for entry in browser.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message["params"]
            if message["method"] == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
            elif message["method"] == "Network.responseReceivedExtraInfo":
                done.append(("status", params["requestId"], params["statusCode"]))
            elif message["method"] == "Network.loadingFinished":
                done.append(("bytes", params["requestId"], params["encodedDataLength"]))
        return done

    drain()
    window = 8.0
    time.sleep(window)
    events = drain()
    statuses = [(urls.get(rid, ""), status) for kind, rid, status in events if kind == "status"]
    received = sum(size for kind, _, size in events if kind == "bytes")
    assert len(statuses) >= window / 2, statuses  # the feed asked about every second
    assert all("/sensors/changes?" in url for url, _ in statuses), statuses
    assert {status for _, status in statuses} == {304}, statuses
    listing = requests.get(quiet_server + "/sensors?limit=1000&unit=C", headers={"Accept-Encoding": "gzip"}, timeout=10)
    listing_bytes = len(listing.raw.headers) + int(listing.headers.get("Content-Length") or len(listing.content))
    print(f"\nidle: {received / window:.0f} B/s in {len(statuses)} responses; one listing {listing_bytes} B "
          f"({listing.headers.get('Content-Encoding')})")
    assert received < listing_bytes
    assert received / window < 10_000


def focused(driver) -> dict:
    return driver.execute_script(
        "var e = document.activeElement, s = getComputedStyle(e);"
        "return {id: e.id, tag: e.tagName, sensor: e.dataset ? e.dataset.sensor || null : null,"
        " unit: e.dataset ? e.dataset.unit || null : null, outline: s.outlineStyle, width: parseFloat(s.outlineWidth),"
        " shadow: s.boxShadow};")


def test_the_dashboard_works_by_keyboard(quiet_server, browser):
    """Tab reaches the filter, the unit switch and the cards, each with a
    visible focus indicator; Enter on a card opens its sensor's page; Escape,
    or Enter on "← All sensors", goes back to that card."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    put_fleet(quiet_server, 6)
    browser.get(quiet_server + "/")
    wait_until(lambda: card(browser, "t-0005") is not None, 10, "the cards")

    def press(key):
        ActionChains(browser).send_keys(key).perform()

    reached = []
    for _ in range(20):
        press(Keys.TAB)
        now = focused(browser)
        reached.append(now)
        assert now["outline"] != "none" and now["width"] >= 2, f"no visible focus on {now}"
        if now["sensor"]:
            break
    kinds = [r["id"] or r["unit"] or r["sensor"] for r in reached]
    assert kinds[:3] == ["filter", "C", "F"], kinds
    first = reached[-1]["sensor"]
    assert first is not None, kinds
    screenshot(browser, "dashboard-keyboard-focus.png")
    # Enter in the unit switch works as a click (buttons).
    press(Keys.ENTER)
    wait_until(lambda: browser.execute_script("return location.hash") == f"#/sensors/{first}", 5, "the sensor page")
    assert focused(browser)["id"] == "sensor-back"
    wait_until(lambda: browser.execute_script("return !!window.sensorhub.chart"), 10, "the chart")
    press(Keys.ESCAPE)
    wait_until(lambda: focused(browser)["sensor"] == first, 5, "the focus back on the card")
    assert browser.execute_script("return location.hash") == "#/"
    press(Keys.ENTER)
    wait_until(lambda: focused(browser)["id"] == "sensor-back", 5, "the sensor page again")
    press(Keys.ENTER)  # the back link
    wait_until(lambda: focused(browser)["sensor"] == first, 5, "the card again")
    assert by_css(browser, "#grid")[0].is_displayed()


CONTRAST = """
function parse(c) {
  var m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return [0, 0, 0, 0];
  var p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
}
function over(top, bottom) {
  var a = top[3];
  return [0, 1, 2].map(function (i) { return top[i] * a + bottom[i] * (1 - a); }).concat([1]);
}
function background(e) {
  var layers = [];
  for (var n = e; n && n.nodeType === 1; n = n.parentElement) {
    var b = parse(getComputedStyle(n).backgroundColor); if (b[3] > 0) layers.push(b); if (b[3] >= 1) break;
  }
  var color = [255, 255, 255, 1];
  for (var i = layers.length - 1; i >= 0; i--) color = over(layers[i], color);
  return color;
}
function lum(c) {
  var v = c.slice(0, 3).map(function (x) { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function ratio(e) {
  var bg = background(e), fg = over(parse(getComputedStyle(e).color), bg), a = lum(fg), b = lum(bg);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}
var found = [];
arguments[0].forEach(function (selector) {
  document.querySelectorAll(selector).forEach(function (e) {
    if (!e.offsetParent && getComputedStyle(e).position !== "fixed") return;  // not shown
    if (!e.textContent.trim()) return;
    found.push({selector: selector, text: e.textContent.trim().slice(0, 40), ratio: Math.round(ratio(e) * 100) / 100,
                state: (e.closest("article.card") || {dataset: {}}).dataset.state || null});
  });
});
return found;
"""

STATE_OF_CARD = """
document.querySelectorAll("article.card").forEach(function (c) {
  c.dataset.state = c.classList.contains("hot") ? "too-hot" : c.classList.contains("offline") ? "offline" :
    c.classList.contains("never") ? "never-heard" : c.classList.contains("stale") ? "stale" : "online";
});
"""


def test_every_card_state_and_heading_is_readable_and_the_page_fits_a_phone(server, browser):
    """WCAG 2 contrast of the text of each card state (online, offline,
    stale, too hot, never heard) and of the headings: 4.5:1 or more. At
    375 × 667 nothing is wider than the screen, the cards are one column and
    a sensor's chart fits. A screenshot per state: test-output/card-*.png."""
    sensors = {
        "on-1": {"kind": "humidity", "room": "lab", "name": "Online"},
        "off-1": {"kind": "humidity", "room": "lab", "name": "Offline"},
        "stale-1": {"kind": "co2", "room": "lab", "name": "Stale"},
        "hot-1": {"kind": "temperature", "room": "lab", "name": "Too hot"},
        "never-1": {"kind": "temperature", "room": "lab", "name": "Never heard"},
        "xss-2": {"kind": "humidity", "room": "lab", "name": HOSTILE_NAME},
    }
    for sensor, metadata in sensors.items():
        body = {"org": "acme", "site": "hq", "building": "B1", **metadata}
        assert requests.put(f"{server}/v1/sensors/{sensor}", json=body, timeout=5).status_code == 201
    now = time.time()
    requests.post(server + "/data", json=[{"sensor": "off-1", "timestamp": now - 600, "value": 40}], timeout=5)

    def keep_alive():
        at = time.time()
        requests.post(server + "/data", timeout=5, json=[
            {"sensor": "on-1", "timestamp": at, "value": 41}, {"sensor": "xss-2", "timestamp": at, "value": 42},
            {"sensor": "stale-1", "timestamp": "2022-03-01T12:00:00Z", "value": 600}] + history("hot-1", 27, 1, 1))
        requests.post(server + "/v1/temperatures", timeout=5, json=[
            {"siteId": "hq", "orgId": "acme", "sensorId": "hot-1", "temperature": 29.5, "timestamp": at}])

    keep_alive()
    browser.get(server + "/")
    wait_until(lambda: all(card(browser, s) is not None for s in sensors)
               and card(browser, "off-1").get_attribute("data-status") == "offline", 15, "every state",
               keep_alive=keep_alive)
    keep_alive()
    browser.execute_script(STATE_OF_CARD)
    states = browser.execute_script(
        "var m = {}; document.querySelectorAll('article.card').forEach(function (c) { m[c.dataset.sensor] = c.dataset.state; });"
        " return m;")
    assert states == {"on-1": "online", "off-1": "offline", "stale-1": "stale", "hot-1": "too-hot",
                      "never-1": "never-heard", "xss-2": "online"}
    assert text_of(browser, "xss-2", ".name") == HOSTILE_NAME and browser.execute_script("return window.pwned === undefined")
    for sensor, state in states.items():
        if sensor != "xss-2":
            screenshot(browser, f"card-{state}.png", card(browser, sensor))

    texts = browser.execute_script(CONTRAST, [
        "article.card .name", "article.card .sub", "article.card .value", "article.card .unit", "article.card .status",
        "article.card .heard", "article.card .stale-note", "article.card .badge", "header h1", "#summary",
        "section.group h2 .site-name", "section.group h2 .badge", "div.room h3"])
    seen_states = {t["state"] for t in texts if t["state"]}
    assert seen_states == {"online", "offline", "stale", "too-hot", "never-heard"}
    assert {t["selector"] for t in texts} >= {"header h1", "section.group h2 .site-name", "div.room h3",
                                               "article.card .status", "article.card .stale-note"}
    poor = [t for t in texts if t["ratio"] < 4.5]
    print("\nlowest contrast:", sorted(texts, key=lambda t: t["ratio"])[:3])
    assert poor == [], poor

    # A phone: 375 × 667.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 375, "height": 667, "deviceScaleFactor": 2, "mobile": True})
    wait_until(lambda: browser.execute_script("return window.innerWidth") == 375, 5, "the phone's width")
    keep_alive()
    time.sleep(0.5)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    lefts = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('article.card'), function (c) {"
        " var r = c.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.right)]; });")
    assert len({left for left, _ in lefts}) == 1, lefts  # one column
    assert all(right <= 375 and right - left >= 300 for left, right in lefts), lefts
    screenshot(browser, "dashboard-phone-375.png")
    card(browser, "hot-1").click()
    wait_until(lambda: browser.execute_script("return !!window.sensorhub.chart"), 10, "the sensor's chart")
    time.sleep(0.3)
    chart = browser.execute_script(
        "var r = document.querySelector('#sensor-chart .uplot').getBoundingClientRect();"
        " return [r.left, r.right, document.documentElement.scrollWidth, window.innerWidth];")
    assert chart[0] >= 0 and chart[1] <= 375 and chart[2] <= chart[3], chart
    screenshot(browser, "sensor-page-phone-375.png")
