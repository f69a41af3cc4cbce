"""Webhook receivers must be public hosts, however the address is spelled.

An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64,
IPv4-compatible, IPv4-translated) is as safe as that IPv4 address.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from service.webhooks.ssrf import ForbiddenTarget, _forbidden, check_url, embedded_ipv4

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("100.64.0.1", "shared address space"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("::1", "IPv6 loopback"),
    ("fe80::1", "IPv6 link-local"),
    ("fc00::1", "unique local"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:a00:1::1", "6to4 of 10.0.0.1"),
    ("2002:a9fe:a9fe::1", "6to4 of 169.254.169.254"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo of 127.0.0.1"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
    ("64:ff9b:1::a00:1", "NAT64 local-use prefix"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("::ffff:0:7f00:1", "IPv4-translated loopback"),
    ("::ffff:0:a00:1", "IPv4-translated private"),
]

ALLOWED = [
    ("8.8.8.8", "public IPv4"),
    ("2001:4860:4860::8888", "public IPv6"),
    ("2002:808:808::1", "6to4 of a public IPv4"),
]


@pytest.mark.parametrize("address, why", REFUSED, ids=[why for _, why in REFUSED])
def test_an_address_that_is_or_maps_to_a_non_public_one_is_refused(address, why):
    assert _forbidden(ipaddress.ip_address(address)), why


@pytest.mark.parametrize("address, why", ALLOWED, ids=[why for _, why in ALLOWED])
def test_a_public_address_is_allowed(address, why):
    assert not _forbidden(ipaddress.ip_address(address)), why


def test_the_ipv4_inside_each_ipv6_form_is_found():
    assert embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::")) == [ipaddress.IPv4Address("127.0.0.1")]
    assert ipaddress.IPv4Address("127.0.0.1") in embedded_ipv4(
        ipaddress.IPv6Address("2001:0:4136:e378:8000:63bf:80ff:fffe"))
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b::a00:1")) == [ipaddress.IPv4Address("10.0.0.1")]
    assert embedded_ipv4(ipaddress.IPv6Address("2001:4860:4860::8888")) == []


def test_a_url_whose_host_resolves_to_a_6to4_loopback_is_refused(monkeypatch):
    def resolves_to_6to4(host, port, type=0):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2002:7f00:1::", port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", resolves_to_6to4)
    with pytest.raises(ForbiddenTarget, match="2002:7f00:1::"):
        check_url("https://receiver.example/hook", allow_private=False)
