"""The body gate counts uploads per client: the TCP peer, or behind a
trusted proxy (TRUSTED_PROXIES) the client the proxy forwarded for, so a
proxy's clients do not share one count."""

from __future__ import annotations

import io
import ipaddress

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

    return BodyGate(app, max_bytes=1024, read_timeout=5, reads_per_client=1, trusted_proxies=trusted_proxies)


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
