"""Who asked: the client address of an access line, and X-Forwarded-For
believed only from a trusted proxy."""

from __future__ import annotations

import ipaddress

import pytest

from service.transport import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "client"), [
    ("198.51.100.7", "203.0.113.9", (), "198.51.100.7"),  # no trusted proxy: the header is anyone's word
    ("198.51.100.7", "203.0.113.9", PROXIES, "198.51.100.7"),  # the peer is no trusted proxy
    ("10.1.2.3", "203.0.113.9", PROXIES, "203.0.113.9"),
    ("10.1.2.3", "6.6.6.6, 203.0.113.9, 10.9.9.9", PROXIES, "203.0.113.9"),  # right-most address no proxy holds
    ("10.1.2.3", None, PROXIES, "10.1.2.3"),
    ("10.1.2.3", "not-an-address", PROXIES, "10.1.2.3"),
    ("10.1.2.3", "2001:db8::1", PROXIES, "2001:db8::1"),
])
def test_the_client_is_the_peer_or_whom_a_trusted_proxy_forwarded_for(peer, forwarded, trusted, client):
    environ = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_address(environ, trusted) == client
