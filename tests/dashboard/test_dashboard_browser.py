"""The dashboard in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against a real gunicorn that also
runs the background worker (WORKER=1), all on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
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


@pytest.fixture
def server(redis_url, redis_cluster_mode, clean_redis):
    port = free_port()
    env = {
        **os.environ, "REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0",
        "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "WORKER": "1",
        "OFFLINE_AFTER": "3", "OFFLINE_CHECK_INTERVAL": "0.2", "LOG_REQUESTS": "0", "LOG_LEVEL": "WARNING",
        "GUNICORN_LOG_LEVEL": "warning",
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
        except requests.ConnectionError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not become ready"
        time.sleep(0.1)
    yield base
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def card(driver, sensor_id):
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'article.card[data-sensor="{sensor_id}"]')
    return found[0] if found else None


def wait_until(condition, timeout, what, keep_alive=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if keep_alive:
            keep_alive()
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_dashboard_shows_new_sensors_and_offline_ones_without_reload(server, browser):
    silent, alive = "02:00:00:00:00:aa", "02:00:00:00:00:bb"

    def beat(mac):
        assert requests.post(server + "/heartbeat", json={"mac_address": mac}, timeout=5).status_code == 200

    beat(silent)
    browser.get(server + "/")
    wait_until(lambda: card(browser, silent) is not None, 10, "the first sensor's card")
    assert card(browser, silent).get_attribute("data-status") == "online"

    beat(alive)  # added after the page was opened
    wait_until(lambda: card(browser, alive) is not None, 10, "the new sensor to appear", keep_alive=lambda: beat(alive))

    # The silent sensor turns offline (OFFLINE_AFTER = 3 s) while the other stays online.
    wait_until(lambda: "offline" in card(browser, silent).get_attribute("class"), 15, "the silent sensor to go offline",
               keep_alive=lambda: beat(alive))
    assert card(browser, alive).get_attribute("data-status") == "online"
    assert "offline" in card(browser, silent).text.lower()

    # The worker started by gunicorn recorded the transition as an event.
    wait_until(lambda: any(e["sensor"] == silent for e in requests.get(
        server + "/v1/events?type=sensor.offline", timeout=5).json()["events"]), 10, "the offline event")

    OUTPUT.mkdir(exist_ok=True)
    browser.save_screenshot(str(OUTPUT / "dashboard.png"))

    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "filter").send_keys(":bb")
    wait_until(lambda: not card(browser, silent).is_displayed() and card(browser, alive).is_displayed(), 5,
               "the filter to hide the other sensor")
