"""The dashboard at scale: first paint, idle transfer, reading-to-card delay and JS heap in headless Chromium.

    PYTHONPATH=. .venv/bin/python bench/dashboard_scale.py [--sensors 10000] [--idle 60] [--readings 9]

Starts what `make run` starts (gunicorn, 2 workers, embedded Redis; OFFLINE_AFTER
an hour so that no status turns while it measures), registers N sensors in
4 orgs x 5 sites x 10 rooms (PUT /v1/sensors/<id>) with one reading each
(POST /data batches), then opens the dashboard in Debian's headless Chromium
(Selenium, chromedriver, as tests/dashboard do) and measures, from the
navigation's start: the first card in the page (at the next animation
frame) and all N cards in it; the page's JS heap (CDP Runtime.getHeapUsage);
the bytes received (sum of CDP Network.loadingFinished encodedDataLength:
headers and bodies as sent, so compressed) and the share of the page's main
thread busy (CDP Performance TaskDuration) over an idle period as the page
is (the changes feed every second, ETag/304); the delay from each of
``--readings`` POST /data answers to the card showing its value (one
sensor, readings at spread moments of the page's poll); then, in the same
run, the page reloaded with the cadence it had before the changes feed (the
whole listing, conditional requests, 3 s after the previous one was drawn;
set by the bench on the page's grid before its script runs): the same idle
period and reading delays again.
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


def busy_seconds(driver) -> float:
    """The page's main-thread task time so far (CDP Performance TaskDuration: script, layout, paint)."""
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def idle(driver, seconds: float) -> tuple[float, int, float]:
    """(bytes received per second, responses, share of the main thread busy) over an idle period."""
    received_bytes(driver)
    busy = busy_seconds(driver)
    time.sleep(seconds)
    total, responses = received_bytes(driver)
    return total / seconds, responses, (busy_seconds(driver) - busy) / seconds


# Before the page's script runs: the cadence of the dashboard before the
# changes feed (every tick the whole listing, 3 s after the previous one).
LISTING_ONLY = """
new MutationObserver(function (changes, observer) {
  var grid = document.getElementById("grid");
  if (!grid) return;
  grid.dataset.liveMs = "3000";
  grid.dataset.fullMs = "1";
  observer.disconnect();
}).observe(document, {childList: true, subtree: true});
"""


def wait_for_cards(driver, count: int) -> dict:
    deadline = time.monotonic() + 120
    while not driver.execute_script("return window.__dash && window.__dash.allAt") and time.monotonic() < deadline:
        time.sleep(0.1)
    return driver.execute_script("return window.__dash")


def reading_delays(driver, base: str, readings: int) -> list[float]:
    """Seconds from each POST /data answer to the first card showing its value."""
    sensor = driver.execute_script("return document.querySelector('article.card').dataset.sensor")
    shown = "return document.querySelector('article.card[data-sensor=\"' + arguments[0] + '\"] .value').textContent"
    delays = []
    for n in range(readings):
        value = 70.5 + n
        assert requests.post(base + "/data", json={"sensor": sensor, "timestamp": time.time(), "value": value},
                             timeout=10).status_code == 200
        answered = time.monotonic()
        while driver.execute_script(shown, sensor) != f"{value:.1f}":
            if time.monotonic() - answered > 30:
                raise AssertionError(f"reading {n} not shown after 30 s")
            time.sleep(0.01)
        delays.append(time.monotonic() - answered)
        time.sleep(0.37 * (n % 3) + 0.5)  # spread over the page's 1 s poll
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of each idle measurement")
    parser.add_argument("--readings", type=int, default=9, help="readings posted to measure the delay to the card")
    args = parser.parse_args()
    service = SpawnedService({"OFFLINE_AFTER": "3600", "LOG_REQUESTS": "0"}).start()
    driver = profile = None
    try:
        started = time.perf_counter()
        load_fleet(service.url, args.sensors)
        print(f"{args.sensors} sensors registered with a reading in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        driver, profile = open_browser()
        watch = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH % args.sensors})
        driver.get(service.url + "/")
        marks = wait_for_cards(driver, args.sensors)
        # The first round of sparklines, then the page at rest.
        time.sleep(10)
        heap = driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"]
        driver.execute_cdp_cmd("Performance.enable", {})
        feed, polls_feed, busy_feed = idle(driver, args.idle)
        heap_after = driver.execute_cdp_cmd("Runtime.getHeapUsage", {})["usedSize"]
        delays = sorted(reading_delays(driver, service.url, args.readings))
        print("the changes feed measured; the whole listing every 3 s next", file=sys.stderr)

        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": watch["identifier"]})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH % args.sensors + LISTING_ONLY})
        driver.get(service.url + "/")
        wait_for_cards(driver, args.sensors)
        time.sleep(10)
        driver.execute_cdp_cmd("Performance.enable", {})
        listing, polls_listing, busy_listing = idle(driver, args.idle)
        delays_listing = sorted(reading_delays(driver, service.url, args.readings))
        results = {
            "sensors": args.sensors,
            "first_card_ms": round(marks.get("first", -1)),
            "all_cards_ms": round(marks.get("allAt", -1)),
            "idle_bytes_per_s_feed": round(feed),
            "idle_responses_feed": polls_feed,
            "idle_bytes_per_s_listing_3s": round(listing),
            "idle_responses_listing_3s": polls_listing,
            "idle_main_thread_busy_feed": round(busy_feed, 4),
            "idle_main_thread_busy_listing_3s": round(busy_listing, 4),
            "reading_to_card_s_median": round(delays[len(delays) // 2], 2),
            "reading_to_card_s_max": round(delays[-1], 2),
            "reading_to_card_s": [round(d, 2) for d in delays],
            "reading_to_card_s_median_listing_3s": round(delays_listing[len(delays_listing) // 2], 2),
            "reading_to_card_s_max_listing_3s": round(delays_listing[-1], 2),
            "js_heap_mb": round(heap / 1e6, 1),
            "js_heap_mb_after_idle": round(heap_after / 1e6, 1),
        }
        print(json.dumps(results))
        print(f"idle transfer with the changes feed: {feed / max(listing, 1):.3f} of the whole listing every 3 s "
              f"({feed / 1000:.2f} KB/s vs {listing / 1000:.2f} KB/s); a reading on its card in "
              f"{results['reading_to_card_s_median']} s (median), {results['reading_to_card_s_max']} s (max)")
        return 0
    finally:
        if driver is not None:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
        service.stop()


if __name__ == "__main__":
    sys.exit(main())
