"""The Grafana dashboard (deploy/grafana/) and the Prometheus alert rules
(deploy/prometheus/) use only metrics sensorhub exports: names collected
from scrapes of an app and of a real background worker after traffic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from service import create_app
from service.stores import stores
from tests.webhook_receiver import Receiver
from tests.worker.test_worker_health import RunningWorker
from tests.worker.test_worker_processes import stop, wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "deploy" / "grafana").glob("*.json"))
RULES = sorted((REPO / "deploy" / "prometheus").glob("*.yaml"))
# A metric name in PromQL: sensorhub's own and prometheus-flask-exporter's.
METRIC = re.compile(r"\b(?:sensorhub|flask)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "gauge": ("",)}


def exported(text: str) -> set[str]:
    """Series names a scrape offers, for families without samples yet too."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def expressions() -> dict[str, str]:
    found = {}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found[f"{path.name}: {panel['title']} ({target['refId']})"] = target["expr"]
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found[f"{path.name}: {rule['alert']}"] = rule["expr"]
    return found


@pytest.fixture
def scrapes(settings, clean_redis, redis_url, redis_cluster_mode, tmp_path):
    app = create_app(settings.replace(webhook_allow_private=True))
    client = app.test_client()
    worker = RunningWorker(redis_url, redis_cluster_mode, tmp_path / "worker.log", WEBHOOK_ALLOW_PRIVATE="1")
    try:
        with Receiver() as receiver:
            client.post("/v1/webhooks", json={"url": receiver.url, "secret": "s" * 16})
            client.post("/data", json=[{"sensor": "s", "timestamp": "2024-07-01T00:00:00Z", "value": 1}] * 2)
            client.post("/data", json=[{"sensor": "s"}])
            client.post("/heartbeat", json={"mac_address": "02:00:00:00:00:01"})
            stores(app).events.publish("sensor.offline", "s", event_id="ev-scrape")
            wait_for(lambda: receiver.requests, 20, "the worker to deliver")
            wait_for(lambda: worker.status("/readyz") == 204, 20, "the worker to be ready")
            worker_text = requests.get(worker.base + "/metrics", timeout=5).text
    finally:
        stop(worker.process)
        stores(app).client.close()
    return client.get("/metrics").get_data(as_text=True), worker_text


def test_dashboards_and_alerts_use_only_metrics_sensorhub_exports(scrapes):
    app_text, worker_text = scrapes
    names = exported(app_text) | exported(worker_text)
    found = expressions()
    assert len(DASHBOARDS) >= 1 and len(RULES) >= 1 and found
    unknown = {where: sorted(set(METRIC.findall(expr)) - names) for where, expr in found.items()}
    assert {where: missing for where, missing in unknown.items() if missing} == {}
    assert all(METRIC.search(expr) for expr in found.values()), "an expression that names no sensorhub metric"
