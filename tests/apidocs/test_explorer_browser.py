"""/docs in a real headless Chromium with the network cut: every host but
loopback unresolvable and every other connection sent to a proxy that
refuses. The explorer still lists the operations."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from service.embedded_redis import free_port
from tests.servers import GunicornServer

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.slow


@pytest.fixture
def server(redis_url, redis_cluster_mode, clean_redis):
    started = GunicornServer({"REDIS_URL": redis_url, "REDIS_CLUSTER": "1" if redis_cluster_mode else "0",
                              "WORKER": "0", "LOG_REQUESTS": "0", "LOG_LEVEL": "WARNING",
                              "GUNICORN_LOG_LEVEL": "warning"}).start()
    yield started.url
    started.stop()


@pytest.fixture
def offline_browser():
    if not (CHROMIUM and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI needs Debian's chromium and chromium-driver (.ci/run installs them)")
        pytest.skip("chromium/chromium-driver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sensorhub-chromium-")
    refusing_proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1200,900",
                 # The network cut: names resolve to nothing, connections go to a closed
                 # port (loopback bypasses the proxy).
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 f"--proxy-server={refusing_proxy}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_the_explorer_lists_the_operations_with_the_network_cut(server, offline_browser):
    from selenium.webdriver.common.by import By

    offline_browser.get(server + "/docs")
    post_data = '.opblock-post .opblock-summary-path[data-path="/data"]'
    deadline = time.monotonic() + 20
    while not offline_browser.find_elements(By.CSS_SELECTOR, post_data):
        assert time.monotonic() < deadline, "the explorer did not show POST /data"
        time.sleep(0.2)
    assert len(offline_browser.find_elements(By.CSS_SELECTOR, ".opblock")) > 20
    fetched = offline_browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert server + "/openapi.json" in fetched
    assert all(url.startswith(server + "/") or url.startswith("data:") for url in fetched), fetched
