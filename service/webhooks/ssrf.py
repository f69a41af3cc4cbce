"""No server-side request forgery: webhook receivers must be public hosts.

A URL is checked at registration and its host resolved again at every
delivery; the delivery then connects to the very address that was checked
(so a DNS answer that changes in between cannot point it inward).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class ForbiddenTarget(ValueError):
    """The URL is not an acceptable webhook receiver (message for the client)."""


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64
# (RFC 6052's well-known prefix), IPv4-compatible (deprecated, ::/96) and
# IPv4-translated (RFC 2765) addresses. The address is as safe as that IPv4.
_IPV4_IN_LOW_32_BITS = tuple(
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)
# Refused whatever they embed: NAT64's local-use prefix (RFC 8215) places the
# IPv4 anywhere; IETF protocol assignments (192.0.0.0/24) some Pythons
# count as global.
_ALWAYS_FORBIDDEN = tuple(ipaddress.ip_network(net) for net in ("64:ff9b:1::/48", "192.0.0.0/24"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address maps to: IPv4-mapped, 6to4,
    Teredo (server and client), NAT64, IPv4-compatible, IPv4-translated."""
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    if any(address in net for net in _IPV4_IN_LOW_32_BITS):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _forbidden_one(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
        or any(address in net for net in _ALWAYS_FORBIDDEN if net.version == address.version)
    )


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Not a public address, or an IPv6 address that maps to a non-public IPv4."""
    if _forbidden_one(address):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        return any(_forbidden_one(ipv4) for ipv4 in embedded_ipv4(address))
    return False


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ForbiddenTarget("The URL must start with http:// or https://.")
    if parts.username or parts.password:
        raise ForbiddenTarget("The URL must not carry credentials; use the secret to authenticate deliveries.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ForbiddenTarget("The URL has an invalid port.") from None
    if not parts.hostname:
        raise ForbiddenTarget("The URL has no host.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


def resolve(host: str, port: int, allow_private: bool) -> str:
    """An address of ``host`` safe to connect to; ForbiddenTarget if it
    does not resolve or any of its addresses is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ForbiddenTarget(f"The host {host!r} does not resolve.") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private:
        for address in addresses:
            if _forbidden(address):
                raise ForbiddenTarget(
                    f"The host {host!r} resolves to {address}, a loopback, link-local or private address: "
                    "refused (set WEBHOOK_ALLOW_PRIVATE=1 to allow internal receivers)."
                )
    return str(addresses[0])


def check_url(url: str, allow_private: bool) -> None:
    _, host, port, _ = split_url(url)
    resolve(host, port, allow_private)
