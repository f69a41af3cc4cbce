"""A real `make run` start against a password-protected Redis: JSON lines
only, no warning, a banner with the URLs, access lines that say who asked
and why a request was refused; a wrong or missing password stops the start
with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from service.embedded_redis import EmbeddedRedis
from tests.servers import ROOT, GunicornServer

pytestmark = pytest.mark.slow

PASSWORD = "pw-3f9c2a7d41b8e6"
KEY = "k-" + "7" * 32
HEADERS = {"X-API-Key": KEY, "User-Agent": "gateway-fw/2.1"}


@pytest.fixture(scope="module")
def protected_redis(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("redis-auth"), unix_socket=False, appendonly=False,
                       extra_config={"requirepass": PASSWORD}) as server:
        yield server


def _url(server: EmbeddedRedis, password: str | None) -> str:
    return f"redis://{':' + password + '@' if password else ''}127.0.0.1:{server.port}/0"


@pytest.fixture(scope="module")
def started(protected_redis, tmp_path_factory):
    """One gunicorn start; yields its log lines once it has served a few requests."""
    log_path = tmp_path_factory.mktemp("gunicorn") / "out.log"
    server = GunicornServer({
        "REDIS_URL": _url(protected_redis, PASSWORD),
        "API_KEYS": json.dumps({KEY: {"role": "admin", "org": "*"}}),
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "WORKER": "0", "LOG_LEVEL": "INFO", "LOG_REQUESTS": "1",
    }, log_path=log_path).start()
    try:
        reading = {"sensor": "pw-1", "timestamp": "2021-11-08T21:38:09Z", "value": 4}
        posted = requests.post(f"{server.url}/data", json=[reading], headers=HEADERS, timeout=5)
        read = requests.get(f"{server.url}/statistics/pw-1", headers=HEADERS, timeout=5)
        refused = requests.post(f"{server.url}/data", json=[{"sensor": "pw-1"}],
                                headers={**HEADERS, "X-Forwarded-For": "203.0.113.9", "X-Request-ID": "refused-1"},
                                timeout=5)
    finally:
        assert server.stop() == 0
    yield {"posted": posted, "read": read, "refused": refused, "text": log_path.read_text(), "port": server.port}


def test_the_service_reads_and_writes_a_redis_that_asks_a_password(started):
    assert started["posted"].status_code == 200
    assert started["read"].json()["count"] == 1


def test_every_line_of_a_start_is_json_and_none_is_a_warning(started):
    lines = started["text"].splitlines()
    assert lines
    parsed = [json.loads(line) for line in lines]  # a plain-text line fails here
    assert "Warning" not in started["text"]
    assert not [line for line in parsed if line["level"] not in ("info", "debug")]
    assert any(line["logger"] == "gunicorn.error" and line["msg"].startswith("Starting gunicorn") for line in parsed)


def test_the_start_banner_names_the_urls_of_the_api_dashboard_and_docs(started):
    (banner,) = [json.loads(line) for line in started["text"].splitlines() if "sensorhub ready" in line]
    base = f"http://127.0.0.1:{started['port']}"
    assert banner["dashboard"] == f"{base}/" and banner["docs"] == f"{base}/docs"
    assert banner["api"] == f"{base}/" and f"{base}/docs" in banner["msg"]


def test_an_access_line_names_the_client_its_user_agent_and_why_a_4xx_was_refused(started):
    assert started["refused"].status_code == 422
    (line,) = [json.loads(line) for line in started["text"].splitlines() if "refused-1" in line]
    # The peer (127.0.0.1) is a trusted proxy: the client is the address it forwarded for.
    assert line["client"] == "203.0.113.9"
    assert line["user_agent"] == "gateway-fw/2.1"
    assert line["error"] == started["refused"].json()["message"]
    assert PASSWORD not in started["text"]


@pytest.mark.parametrize("password", ["wrong-password", None], ids=["wrong", "missing"])
def test_a_wrong_or_missing_redis_password_stops_the_start_with_one_clear_line(protected_redis, password):
    server = GunicornServer({"REDIS_URL": _url(protected_redis, password), "WORKER": "0", "API_KEYS": ""})
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
        cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    lines = [json.loads(line) for line in (result.stdout + result.stderr).splitlines()]
    (refusal,) = [line for line in lines if line["level"] == "critical"]
    assert f"127.0.0.1:{protected_redis.port}" in refusal["msg"] and "REDIS_URL" in refusal["msg"]
    assert "Traceback" not in result.stderr
    assert "wrong-password" not in result.stdout + result.stderr


def test_a_redis_that_refuses_the_password_later_is_answered_503_naming_the_cause(protected_redis):
    from service import create_app
    from service.settings import Settings

    # As after a password rotation the service was not told about.
    app = create_app(Settings(redis_url=_url(protected_redis, "rotated-away"), log_requests=False,
                              log_level="CRITICAL"))
    response = app.test_client().get("/statistics/pw-1")
    assert response.status_code == 503
    assert "credentials" in response.get_json()["message"] and "REDIS_URL" in response.get_json()["message"]
    assert response.headers["Retry-After"]


@pytest.mark.parametrize("module", ["service.worker", "service.mqtt"])
def test_the_worker_and_the_mqtt_bridge_also_stop_at_start_on_a_refused_password(protected_redis, module):
    env = GunicornServer({"REDIS_URL": _url(protected_redis, "wrong-password"),
                          "MQTT_URL": "mqtt://127.0.0.1:1", "PROMETHEUS_MULTIPROC_DIR": ""}).env
    result = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    (refusal,) = [json.loads(line) for line in result.stdout.splitlines() if '"critical"' in line]
    assert f"127.0.0.1:{protected_redis.port}" in refusal["msg"] and "REDIS_URL" in refusal["msg"]
    assert "Traceback" not in result.stderr and "wrong-password" not in result.stdout + result.stderr
