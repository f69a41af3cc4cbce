"""The body gate counts uploads per client: the TCP peer, or behind a
trusted proxy (TRUSTED_PROXIES) the client the proxy forwarded for, so a
proxy's clients do not share one count. Its refusals are answers like any
other: a request id, an access line, and the connection closed as said."""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import logging

import pytest

from service.logs import JsonFormatter, RequestLog
from service.transport import BodyGate

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


class _StreamThatAsksAgain(io.BytesIO):
    """A body that, while it is being received, lets a second upload reach
    the gate: the two are read at once, as two slow uploads would be."""

    def __init__(self, body: bytes, meanwhile):
        super().__init__(body)
        self.meanwhile = meanwhile
        self.answered = None

    def read(self, *args):
        if self.answered is None:
            self.answered = self.meanwhile()
        return super().read(*args)


def _upload(gate: BodyGate, peer: str, forwarded_for: str | None, stream=None) -> str:
    statuses = []
    environ = {
        "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "2", "REMOTE_ADDR": peer,
        "wsgi.input": stream if stream is not None else io.BytesIO(b"[]"),
    }
    if forwarded_for is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded_for
    gate(environ, lambda status, headers, *exc: statuses.append(status))
    return statuses[0]


def _gate(trusted_proxies: tuple = ()) -> BodyGate:
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    return BodyGate(app, max_bytes=1024, read_timeout=5, reads_per_client=1,
                    request_log=RequestLog(False, trusted_proxies))


def _two_at_once(gate: BodyGate, first: tuple, second: tuple) -> tuple[str, str]:
    stream = _StreamThatAsksAgain(b"[]", lambda: _upload(gate, *second))
    return _upload(gate, *first, stream=stream), stream.answered


def test_one_client_past_its_uploads_at_once_is_refused():
    assert _two_at_once(_gate(), ("198.51.100.7", None), ("198.51.100.7", None)) == ("200 OK", "429 Too Many Requests")


def test_behind_a_trusted_proxy_two_clients_each_have_their_own_uploads():
    gate = _gate(PROXIES)
    assert _two_at_once(gate, ("10.0.0.5", "198.51.100.7"), ("10.0.0.5", "203.0.113.9")) == ("200 OK", "200 OK")
    assert _two_at_once(gate, ("10.0.0.5", "198.51.100.7"), ("10.0.0.5", "198.51.100.7"))[1].startswith("429")


def test_a_forwarded_address_from_an_untrusted_peer_is_not_believed():
    gate = _gate(PROXIES)
    assert _two_at_once(gate, ("198.51.100.7", "192.0.2.1"), ("198.51.100.7", "192.0.2.2"))[1].startswith("429")
    # Without TRUSTED_PROXIES the proxy's clients share its address.
    assert _two_at_once(_gate(), ("10.0.0.5", "198.51.100.7"), ("10.0.0.5", "203.0.113.9"))[1].startswith("429")


# -- refusals: request id, access line, Connection: close ------------------------


class _GunicornResponse:
    """What the gate sees of gunicorn's response: start_response is its
    method, and force_close makes it send Connection: close and close."""

    def __init__(self):
        self.status = None
        self.headers: dict = {}
        self.closing = False

    def force_close(self):
        self.closing = True

    def start_response(self, status, headers, exc_info=None):
        self.status = status
        self.headers = dict(headers)


def _refusing_gate(log_requests: bool = True) -> BodyGate:
    def app(environ, start_response):
        raise AssertionError("a refused body must not reach the app")

    return BodyGate(app, max_bytes=64, read_timeout=5, reads_per_client=1,
                    request_log=RequestLog(log_requests))


def _send(gate: BodyGate, body: bytes = b"[]", **headers) -> tuple[_GunicornResponse, dict]:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/data", "REMOTE_ADDR": "198.51.100.7",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    environ["CONTENT_LENGTH"] = headers.pop("content_length", environ["CONTENT_LENGTH"])
    response = _GunicornResponse()
    answer = b"".join(gate(environ, response.start_response))
    return response, json.loads(answer)


REFUSALS = {
    "413 over MAX_BODY_BYTES": ({"body": b"[" + b"1," * 40 + b"1]"}, "413"),
    "415 unknown coding": ({"content_encoding": "br"}, "415"),
    "400 truncated gzip": ({"body": gzip.compress(b"[]")[:-4], "content_encoding": "gzip"}, "400"),
    "400 shorter than announced": ({"content_length": "10"}, "400"),
}


@pytest.mark.parametrize(("sent", "status"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refusal_echoes_the_clients_request_id_and_closes_the_connection(sent, status):
    sent = dict(sent)
    response, body = _send(_refusing_gate(), sent.pop("body", b"[]"), x_request_id="gateway-7.batch-42", **sent)
    assert response.status.startswith(status)
    assert response.headers["X-Request-ID"] == body["request_id"] == "gateway-7.batch-42"
    assert response.closing and response.headers["Connection"] == "close"
    assert set(body) == {"code", "status", "message", "request_id"}


def test_a_refusal_without_a_sane_request_id_gets_a_new_one():
    _, first = _send(_refusing_gate(), content_encoding="br")
    _, second = _send(_refusing_gate(), content_encoding="br", x_request_id="x\u2028" * 10)
    assert len(first["request_id"]) == 32 and len(second["request_id"]) == 32
    assert first["request_id"] != second["request_id"]


def test_a_refusal_gets_an_access_line_of_the_apps_shape(caplog):
    with caplog.at_level(logging.INFO, logger="sensorhub.access"):
        response, body = _send(_refusing_gate(), content_encoding="br", x_request_id="req-9", user_agent="gw/1")
    [record] = [r for r in caplog.records if r.name == "sensorhub.access"]
    line = json.loads(JsonFormatter().format(record))
    assert {key: line[key] for key in ("request_id", "method", "path", "status", "client", "user_agent", "error")} == {
        "request_id": "req-9", "method": "POST", "path": "/data", "status": 415, "client": "198.51.100.7",
        "user_agent": "gw/1", "error": body["message"]}
    assert line["ms"] >= 0 and line["msg"] == "request"


def test_without_log_requests_a_refusal_logs_no_access_line_but_keeps_its_id(caplog):
    with caplog.at_level(logging.INFO, logger="sensorhub.access"):
        response, body = _send(_refusing_gate(log_requests=False), content_encoding="br", x_request_id="req-10")
    assert not [r for r in caplog.records if r.name == "sensorhub.access"]
    assert response.headers["X-Request-ID"] == "req-10"


def test_a_client_past_its_uploads_at_once_is_refused_with_an_id_and_a_line(caplog):
    gate = _refusing_gate()
    gate.app = _gate().app  # the first upload is answered 200
    stream = _StreamThatAsksAgain(b"[]", lambda: _send(gate, x_request_id="second"))
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/data", "REMOTE_ADDR": "198.51.100.7",
               "CONTENT_LENGTH": "2", "wsgi.input": stream}
    with caplog.at_level(logging.INFO, logger="sensorhub.access"):
        gate(environ, _GunicornResponse().start_response)
    refused, body = stream.answered
    assert refused.status.startswith("429") and refused.headers["Retry-After"] == "1"
    assert refused.headers["X-Request-ID"] == body["request_id"] == "second" and refused.closing
    assert [r.fields["status"] for r in caplog.records if r.name == "sensorhub.access"] == [429]
