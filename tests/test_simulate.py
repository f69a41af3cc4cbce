"""The fleet simulator against a real sensorhub (app served on loopback)."""

from __future__ import annotations

import io
import threading

import pytest
from werkzeug.serving import make_server

from service import simulate


@pytest.fixture
def service_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _run(url, *extra):
    out = io.StringIO()
    status = simulate.main(
        ["--url", url, "--sites", "12", "--orgs", "4", "--minutes", "90", "--seed", "7", "--no-progress",
         "--duplicate-share", "0.2", "--late-share", "0.2", "--fraction-share", "0.1", *extra],
        out=out,
    )
    return status, out.getvalue()


def test_simulated_fleet_agrees_with_the_service(service_url):
    status, output = _run(service_url)
    assert status == 0, output
    assert "disagree" in output and " 0 disagree" in output
    assert "in F)" in output and "MISMATCH" not in output


def test_simulator_check_reports_an_answer_that_disagrees():
    org = simulate.Org("o", "C", "Europe/Brussels", 25.0)
    expectation = simulate.DayExpectation()
    expectation.add(1_700_000_000, 20.0)
    answer = {"readings": 1, "tooHot": True, "minutesAbove": 1, "maxTemperature": 20.0,
              "maxAt": "2023-11-14T22:13:20+00:00", "unit": "C"}
    assert simulate.compare(expectation, answer, org) == ["tooHot True != False", "minutesAbove 1 != 0"]
    assert simulate.compare(expectation, answer | {"tooHot": False, "minutesAbove": 0}, org) == []
