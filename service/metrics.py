"""Prometheus metrics: per-endpoint request counts and latencies from
prometheus-flask-exporter, plus sensorhub's own counters.
docs/operations.md "Metrics" lists them all.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any
worker imports this module, so every worker writes its samples to shared
files and /metrics, answered by any worker, reports the sum of all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, request
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
    "Readings received by outcome and route: accepted (new), duplicate (ignored), rejected (their post "
    "was refused); route is the endpoint (readings.post_data, ...) or mqtt.",
    ["outcome", "route"],
    registry=None,
)
# A metric of its own, not an outcome of READINGS: an expired reading is
# also accepted or a duplicate there, and READINGS' outcomes add up to the
# readings received.
READINGS_EXPIRED = Counter(
    "sensorhub_readings_expired_total",
    "Readings stored but older than every time query reaches (RETENTION and the longest ROLLUPS tier): "
    "in their sensor's statistics, never in a window, series or history. Each is also counted in "
    "sensorhub_readings_total, as accepted or duplicate; route as there.",
    ["route"],
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
    "letters), dropped (its webhook was deleted meanwhile), stale (its lease had run out and another worker took it "
    "over).",
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

# Every Redis command, timed by the client (service.redisdb.instrumented):
# a pipeline or a batch of script calls is one observation (PIPELINE),
# a script call alone is EVALSHA.
REDIS_COMMAND_SECONDS = Histogram(
    "sensorhub_redis_command_seconds",
    "Duration of Redis round trips by command (PIPELINE for a pipeline), errors included.",
    ["command"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=None,
)
REDIS_ERRORS = Counter(
    "sensorhub_redis_errors_total",
    "Redis round trips that failed, by kind: the redis-py exception (ConnectionError, TimeoutError, "
    "BusyLoadingError, ReadOnlyError, OutOfMemoryError, ClusterDownError, ResponseError, ...).",
    ["kind"],
    registry=None,
)

EVENTS_PUBLISHED = Counter(
    "sensorhub_events_published_total",
    "Events appended to the event stream, by type (sensor.offline, sensor.online, site.too_hot, ...); "
    "an event id already published is not counted again.",
    ["type"],
    registry=None,
)

# Fleet-wide figures computed by the background worker once per detection
# pass (two ZCARDs), never per scrape.
SENSORS_BY_STATUS = Gauge(
    "sensorhub_sensors",
    "Sensors by status as of the last detection pass: online (heard within OFFLINE_AFTER, or not yet "
    "declared offline), offline (their offline event is published).",
    ["status"],
    multiprocess_mode="mostrecent",
    registry=None,
)
WORKER_LAST_PASS = Gauge(
    "sensorhub_worker_last_pass_timestamp_seconds",
    "When this worker last completed an offline detection pass (seconds since the epoch).",
    multiprocess_mode="max",
    registry=None,
)
WORKER_LOOP_LAG = Gauge(
    "sensorhub_worker_loop_lag_seconds",
    "How much later than OFFLINE_CHECK_INTERVAL after the previous one the last detection pass completed "
    "(a slow pass, a slow Redis or a stalled worker).",
    multiprocess_mode="mostrecent",
    registry=None,
)
WORKER_LATE = Gauge(
    "sensorhub_worker_late",
    "1 when this worker has completed no detection pass within 3 OFFLINE_CHECK_INTERVALs "
    "(computed when scraped), else 0.",
    multiprocess_mode="max",
    registry=None,
)
WORKER_REDIS_CONNECTED = Gauge(
    "sensorhub_worker_redis_connected",
    "1 while the worker's last Redis round trip succeeded, 0 while Redis is unreachable.",
    multiprocess_mode="min",
    registry=None,
)
WORKER_REDIS_RECONNECTS = Counter(
    "sensorhub_worker_redis_reconnects_total",
    "Times the worker found Redis again after losing it (or after starting without it).",
    registry=None,
)

BUILD_INFO = Gauge(
    "sensorhub_build_info",
    "Always 1; the version label is SENSORHUB_VERSION (default: the package's version).",
    ["version"],
    multiprocess_mode="max",
    registry=None,
)

OWN_METRICS = [
    READINGS, READINGS_EXPIRED, REDIS_OUT_OF_MEMORY, AUTH_FAILURES, BODIES_REFUSED, WEBHOOK_LATENCY, WEBHOOK_DELIVERIES,
    WEBHOOK_CIRCUIT_OPEN, REDIS_COMMAND_SECONDS, REDIS_ERRORS, EVENTS_PUBLISHED, BUILD_INFO,
]
# The worker's own, beside OWN_METRICS on its WORKER_PORT.
WORKER_METRICS = [
    SENSORS_BY_STATUS, WORKER_LAST_PASS, WORKER_LOOP_LAG, WORKER_LATE, WORKER_REDIS_CONNECTED, WORKER_REDIS_RECONNECTS,
]


def single_process_registry(metrics: list) -> CollectorRegistry:
    """A registry of ``metrics`` (a process without PROMETHEUS_MULTIPROC_DIR),
    or of every process' files in that directory."""
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        return registry
    for metric in metrics:
        registry.register(metric)
    return registry


def count_readings(outcome: str, amount: int, route: str | None = None) -> None:
    """Count ``amount`` readings of ``outcome`` (accepted, duplicate,
    rejected) by the route they came by: ``route``, else the endpoint of the
    request being served (the MQTT bridge, outside a request, names itself)."""
    READINGS.labels(outcome, route or request.endpoint or "unknown").inc(amount)


def count_expired_readings(amount: int, route: str | None = None) -> None:
    """Count ``amount`` readings stored beyond every time query's reach, by
    route as ``count_readings``."""
    READINGS_EXPIRED.labels(route or request.endpoint or "unknown").inc(amount)


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
            count_readings("rejected", count)
        raise


def init_metrics(app: Flask, version: str) -> None:
    BUILD_INFO.labels(version).set(1)
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
