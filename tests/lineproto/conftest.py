"""Line protocol writes: apps with API keys, served on loopback for the
influx clients (they need an HTTP URL), on the suite's real Redis."""

from __future__ import annotations

import json
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from ..auth.authkeys import KEYS


@pytest.fixture
def keyed_app(make_app):
    return make_app(api_keys_text=json.dumps(KEYS))


@pytest.fixture
def content_encodings() -> list:
    """The Content-Encoding of each request ``served`` took (None: none)."""
    return []


@pytest.fixture
def served(keyed_app, content_encodings):
    """The URL of an app with the test API keys, its body gate included."""

    def noting_encodings(environ, start_response):
        content_encodings.append(environ.get("HTTP_CONTENT_ENCODING"))
        return keyed_app(environ, start_response)

    server = make_server("127.0.0.1", 0, noting_encodings, threaded=True)
    # A short poll: shutdown() waits for it.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def readings_counted(client, outcome: str) -> float:
    """Readings of ``outcome`` counted on the line protocol routes."""
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "sensorhub_readings"
        for sample in family.samples
        if sample.name == "sensorhub_readings_total"
        and sample.labels["outcome"] == outcome
        and sample.labels["route"].startswith("lineproto.")
    )
