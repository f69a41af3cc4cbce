"""The dashboard at scale: first paint, idle transfer and JS heap in headless Chromium.

    PYTHONPATH=. .venv/bin/python bench/dashboard_scale.py [--sensors 10000] [--idle 60]

Starts what `make run` starts (gunicorn, 2 workers, embedded Redis; OFFLINE_AFTER
an hour so that no status turns while it measures), registers N sensors in
4 orgs x 5 sites x 10 rooms (PUT /v1/sensors/<id>) with one reading each
(POST /data batches), then opens the dashboard in Debian's headless Chromium
(Selenium, chromedriver, as tests/dashboard do) and measures, from the
navigation's start: the first card in the page (at the next animation
frame) and all N cards in it; then the bytes received (sum of CDP
Network.loadingFinished encodedDataLength: headers and bodies as sent, so
compressed) over an idle period with conditional requests as the page makes
them (ETag, 304), and over as long again with the browser's cache disabled
(no If-None-Match: every poll answered in full), in the same run; and the
page's JS heap (CDP Runtime.getHeapUsage).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.ingest import SpawnedService

# Marks when the first card, then all of them, are in the page (the frame after).
WATCH = """
window.__dash = {};
new MutationObserver(function () {
  var d = window.__dash;
  if (d.all) return;
  var n = document.querySelectorAll("article.card").length;
  if (n && !d.firstSeen) { d.firstSeen = true; requestAnimationFrame(function () { d.first = performance.now(); }); }
  if (n >= %d) { d.all = true; requestAnimationFrame(function () { d.allAt = performance.now(); }); }
}).observe(document, {childList: true, subtree: true});
"""


def load_fleet(base: str, count: int) -> None:
    session = requests.Session()

    def register(index: int) -> None:
        org, site, room = f"org-{index % 4}", f"site-{index % 20}", f"room-{index % 200}"
        meta = {"org": org, "site": site, "building": "B", "room": room, "kind": "temperature", "name": f"Sensor {index}"}
        assert session.put(f"{base}/v1/sensors/s-{index:05d}", json=meta, timeout=30).status_code in (200, 201)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(register, range(count)))
    at = time.time() - 60
    for first in range(0, count, 1000):
        batch = [{"sensor": f"s-{i:05d}", "timestamp": at, "value": 20 + i % 50 / 10} for i in range(first, min(count, first + 1000))]
        assert session.post(base + "/data", json=batch, timeout=60).status_code == 200


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sensorhub-bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync",
                 "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    return driver, profile


def received_bytes(driver) -> tuple[int, int]:
    """(bytes, responses) received since the last call."""
    total = responses = 0
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.loadingFinished":
            total += int(message["params"]["encodedDataLength"])
            responses += 1
    return total, responses


def idle(driver, seconds: float) -> tuple[float, int]:
    received_bytes(driver)
    time.sleep(seconds)
    total, responses = received_bytes(driver)
    return total / seconds, responses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of each idle measurement")
    args = parser.parse_args()
    service = SpawnedService({"OFFLINE_AFTER": "3600", "LOG_REQUESTS": "0"}).start()
    driver = profile = None
    try:
        started = time.perf_counter()
        load_fleet(service.url, args.sensors)
        print(f"{args.sensors} sensors registered with a reading in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        driver, profile = open_browser()
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH % args.sensors})
        driver.get(service.url + "/")
        deadline = time.monotonic() + 120
        while not driver.execute_script("return window.__dash.allAt") and time.monotonic() < deadline:
            time.sleep(0.1)
        marks = driver.execute_script("return window.__dash")
        # The first round of sparklines, then the page at rest.
        time.sleep(10)
        heap = driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"]
        with_etags, polls_on = idle(driver, args.idle)
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        without, polls_off = idle(driver, args.idle)
        results = {
            "sensors": args.sensors,
            "first_card_ms": round(marks.get("first", -1)),
            "all_cards_ms": round(marks.get("allAt", -1)),
            "idle_bytes_per_s_etag": round(with_etags),
            "idle_bytes_per_s_no_cache": round(without),
            "idle_responses_etag": polls_on,
            "idle_responses_no_cache": polls_off,
            "js_heap_mb": round(heap / 1e6, 1),
        }
        print(json.dumps(results))
        print(f"idle transfer with conditional requests: {with_etags / max(without, 1):.4f} of without "
              f"({with_etags / 1000:.1f} KB/s vs {without / 1000:.1f} KB/s)")
        return 0
    finally:
        if driver is not None:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
        service.stop()


if __name__ == "__main__":
    sys.exit(main())
