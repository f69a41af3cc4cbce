"""Request ids, JSON log lines and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import time

import pytest

from service import create_app
from service.logs import BufferedStdoutHandler, JsonFormatter


def test_request_id_is_taken_from_the_client_or_generated(client):
    given = client.get("/statistics/s", headers={"X-Request-ID": "gateway-7.batch-42"})
    assert given.headers["X-Request-ID"] == "gateway-7.batch-42"
    generated = client.get("/statistics/s")
    assert len(generated.headers["X-Request-ID"]) == 32
    assert client.get("/statistics/s").headers["X-Request-ID"] != generated.headers["X-Request-ID"]
    hostile = client.get("/statistics/s", headers={"X-Request-ID": "x\u2028" * 10})
    assert hostile.headers["X-Request-ID"] != "x\u2028" * 10


def test_error_bodies_carry_the_request_id(client):
    response = client.post("/data", json=[1], headers={"X-Request-ID": "req-1"})
    assert response.get_json()["request_id"] == "req-1"


def test_each_request_logs_one_json_line(settings, clean_redis, caplog):
    app = create_app(settings.replace(log_requests=True, log_level="INFO"))
    with caplog.at_level(logging.INFO, logger="sensorhub.access"):
        app.test_client().get("/statistics/s", headers={"X-Request-ID": "abc"})
    records = [r for r in caplog.records if r.name == "sensorhub.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "abc" and line["level"] == "info"
    assert line["path"] == "/statistics/s" and line["status"] == 200 and line["method"] == "GET"
    assert line["ts"].endswith("Z")
    logging.getLogger().setLevel(logging.WARNING)


def test_metrics_count_readings_by_outcome_and_route_and_requests_by_endpoint(client):
    batch = [{"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 1}] * 3
    client.post("/data", json=batch)
    client.post("/data", json=[{"sensor": "s"}])
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sensorhub_readings_total{outcome="accepted",route="readings.post_data"}' in text
    assert 'sensorhub_readings_total{outcome="duplicate",route="readings.post_data"}' in text
    assert 'sensorhub_readings_total{outcome="rejected",route="readings.post_data"}' in text
    assert 'flask_http_request_total{method="POST",status="200"}' in text
    assert 'endpoint="readings.post_data"' in text


def _readings_counted(client, outcome: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    prefix = f'sensorhub_readings_total{{outcome="{outcome}",'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def _rejected_by(client, post) -> float:
    """Readings counted as rejected while ``post(client)`` ran."""
    before = _readings_counted(client, "rejected")
    post(client)
    return _readings_counted(client, "rejected") - before


def test_every_refused_post_counts_its_readings_as_rejected(client):
    reading = {"sensor": "s", "timestamp": "2021-11-08T21:38:09Z", "value": 1}
    invalid = [reading, {"sensor": "s"}]
    assert _rejected_by(client, lambda c: c.post("/data", json=invalid).status_code == 422) == 2
    # Valid items, but a key sent twice in one object.
    repeated = b'[{"sensor": "s", "sensor": "t", "timestamp": "2021-11-08T21:38:09Z", "value": 1}]'
    response = {}
    assert _rejected_by(client, lambda c: response.setdefault(
        "r", c.post("/data", data=repeated, headers={"Content-Type": "application/json"}))) == 1
    assert response["r"].status_code == 400
    # A site of another org: 409, nothing written.
    thermometer = {"siteId": "office", "orgId": "alphacorp", "temperature": 21.0, "timestamp": 1658739178}
    assert client.post("/v1/temperatures", json=thermometer).status_code == 200
    other_org = [{**thermometer, "orgId": "betacorp"}] * 3
    response = {}
    assert _rejected_by(client, lambda c: response.setdefault("r", c.post("/v1/temperatures", json=other_org))) == 3
    assert response["r"].status_code == 409
    # Accepted posts count nothing as rejected.
    assert _rejected_by(client, lambda c: c.post("/data", json=[reading])) == 0


def test_openapi_document_describes_every_route(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/data", "/statistics/{sensor_id}", "/healthz", "/livez"} <= set(spec["paths"])
    reading = spec["components"]["schemas"]["Reading"]
    assert set(reading["required"]) == {"sensor", "timestamp", "value"}
    # A batch of readings, or one reading object (a batch of one).
    body = spec["paths"]["/data"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][0]["items"] == {"$ref": "#/components/schemas/Reading"}
    assert body["oneOf"][1] == {"$ref": "#/components/schemas/Reading"}
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(("path", "method", "endpoint", "codes"), [
    ("/v1/admin/toohotornot", "get", "toohot.too_hot_or_not", {"200", "404", "422", "503"}),
    ("/statistics/{sensor_id}", "get", "readings.get_statistics", {"200", "400", "404"}),
    ("/data", "post", "readings.post_data", {"200", "400", "413", "415", "422"}),
])
def test_hot_views_run_unwrapped_and_keep_their_documented_answers(app, client, path, method, endpoint, codes):
    """direct_view drops flask-smorest's per-request wrappers, not its documentation."""
    assert not hasattr(app.view_functions[endpoint], "__wrapped__")
    operation = client.get("/openapi.json").get_json()["paths"][path][method]
    assert codes <= set(operation["responses"])
    assert "schema" in operation["responses"]["200"]["content"]["application/json"]


def test_gunicorn_log_lines_still_format_after_sensorhub_configures_logging(settings, clean_redis):
    create_app(settings)
    record = logging.LogRecord("gunicorn.error", logging.INFO, __file__, 1, "Worker exiting (pid: %s)", (42,), None)
    assert f"[{record.process}]" in logging.Formatter("[%(process)d] %(message)s").format(record)


def test_info_lines_are_batched_and_warnings_written_at_once_in_order(capsys):
    handler = BufferedStdoutHandler()
    handler.FLUSH_SECONDS = 1.0
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sensorhub.test.buffered")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info("first")
        assert capsys.readouterr().out == "", "an INFO line waits for the flusher"
        logger.warning("second")
        assert [json.loads(line)["msg"] for line in capsys.readouterr().out.splitlines()] == ["first", "second"]
        logger.info("third")
        time.sleep(2.5)
        assert [json.loads(line)["msg"] for line in capsys.readouterr().out.splitlines()] == ["third"]
    finally:
        logger.removeHandler(handler)


def test_generated_request_ids_are_unique_across_threads_and_forks():
    import os
    import threading

    from service.logs import RequestIds

    ids = RequestIds()
    seen: list[str] = []

    def draw():
        seen.extend(ids.next() for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == len(seen) == 16_000
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child draws with a fresh prefix
        os.write(write, ids.next().encode())
        os._exit(0)
    os.waitpid(child, 0)
    from_child = os.read(read, 64).decode()
    assert from_child[:16] != seen[0][:16]


def _bodies_refused(client, status: int) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    prefix = f'sensorhub_request_bodies_refused_total{{status="{status}"}} '
    return sum(float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix))


@pytest.mark.parametrize(
    "coding, payload, status",
    [("gzip", b"not gzip", 400), ("br", b"[]", 415)],
    ids=["corrupt gzip", "unknown coding"],
)
def test_bodies_the_body_gate_refuses_are_counted_by_status(client, coding, payload, status):
    before = _bodies_refused(client, status)
    response = client.post("/data", data=payload,
                           headers={"Content-Type": "application/json", "Content-Encoding": coding})
    assert response.status_code == status
    assert _bodies_refused(client, status) - before == 1
