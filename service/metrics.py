"""Prometheus metrics: per-endpoint request counts and latencies from
prometheus-flask-exporter, plus sensorhub's own counters.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any
worker imports this module, so every worker writes its samples to shared
files and /metrics, answered by any worker, reports the sum of all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from werkzeug.exceptions import HTTPException

# Endpoint labels, never paths: /statistics/<id> would make one series per sensor.
_GROUP_BY = "endpoint"
# The probes /livez and /healthz are measured too (their rate and latency
# tell how the orchestrator sees the instance); only the scrape itself and
# static files are left out.
_EXCLUDED = r"^/(metrics|static/.*)$"

READINGS = Counter(
    "sensorhub_readings_total",
    "Readings received by outcome: accepted (new), duplicate (ignored), rejected (their post was refused).",
    ["outcome"],
    registry=None,
)

REDIS_OUT_OF_MEMORY = Counter(
    "sensorhub_redis_out_of_memory_total",
    "Requests refused with 503 because Redis reached its maxmemory (it refuses writes, evicts nothing).",
    registry=None,
)

AUTH_FAILURES = Counter(
    "sensorhub_auth_failures_total",
    "Requests that presented an API key that is not valid: unauthorized (401) or throttled (429).",
    ["outcome"],
    registry=None,
)

BODIES_REFUSED = Counter(
    "sensorhub_request_bodies_refused_total",
    "Request bodies the body gate refused before any route ran, by status: 400 (cut short, corrupt gzip or "
    "deflate), 408 (too slow), 413 (over MAX_BODY_BYTES, also once decompressed), 415 (unknown "
    "Content-Encoding), 429 (too many uploads from one client).",
    ["status"],
    registry=None,
)

# Webhook delivery, recorded by whichever process delivers (the worker;
# under `make run` it shares gunicorn's PROMETHEUS_MULTIPROC_DIR, so its
# samples are in /metrics). Labelled by webhook id, never URL: bounded by
# the registrations and no secret in a URL's path or query leaks.
WEBHOOK_LATENCY = Histogram(
    "sensorhub_webhook_delivery_seconds",
    "Duration of webhook delivery attempts (HTTP, whatever their outcome) by webhook id.",
    ["webhook"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)
WEBHOOK_DELIVERIES = Counter(
    "sensorhub_webhook_deliveries_total",
    "Settled webhook deliveries by outcome: delivered, retry (failed, retried later), dead (to the dead "
    "letters), stale (its lease had run out and another worker took it over).",
    ["outcome"],
    registry=None,
)
WEBHOOK_CIRCUIT_OPEN = Gauge(
    "sensorhub_webhook_circuit_open",
    "1 while a webhook's circuit is open (its deliveries wait for the cool-down), 0 once closed; "
    "as of the last attempt settled.",
    ["webhook"],
    multiprocess_mode="mostrecent",
    registry=None,
)

# The MQTT bridge's messages (served on its own MQTT_METRICS_PORT).
MQTT_MESSAGES = Counter(
    "sensorhub_mqtt_messages_total",
    "MQTT messages the bridge acknowledged by outcome: stored (in Redis), dead_letter (invalid, published "
    "to MQTT_DEAD_LETTER_TOPIC with the reason).",
    ["outcome"],
    registry=None,
)

OWN_METRICS = [
    READINGS, REDIS_OUT_OF_MEMORY, AUTH_FAILURES, BODIES_REFUSED, WEBHOOK_LATENCY, WEBHOOK_DELIVERIES, WEBHOOK_CIRCUIT_OPEN,
]


@contextmanager
def refused_readings(count: int) -> Iterator[None]:
    """Count a post's ``count`` readings as rejected when the post is
    refused inside the block with a client error (4xx): invalid readings,
    another org's sensor or site, a conflict, repeated JSON keys. A 5xx is
    not a refusal (nothing was acknowledged; the client retries)."""
    try:
        yield
    except HTTPException as error:
        if error.code is not None and 400 <= error.code < 500:
            READINGS.labels("rejected").inc(count)
        raise


def init_metrics(app: Flask) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

        GunicornInternalPrometheusMetrics(app, group_by=_GROUP_BY, excluded_paths=_EXCLUDED)
        return
    from prometheus_flask_exporter import PrometheusMetrics

    # A registry per application, so tests may build many apps in one process.
    registry = CollectorRegistry(auto_describe=True)
    for metric in OWN_METRICS:
        registry.register(metric)
    PrometheusMetrics(app, registry=registry, group_by=_GROUP_BY, excluded_paths=_EXCLUDED)
