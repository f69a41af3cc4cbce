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


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


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
