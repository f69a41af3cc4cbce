"""One HTTP delivery of one event to one webhook."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import ssl

from .ssrf import ForbiddenTarget, resolve, split_url

USER_AGENT = "sensorhub-webhooks/1"


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body keyed by the webhook secret>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate checks for the host name."""

    def __init__(self, address: str, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def deliver(url: str, secret: str, event_id: str, event_type: str, body: bytes, *, timeout: float,
            allow_private: bool) -> str | None:
    """POST the event; None on a 2xx answer, else why it failed.

    Redirects are not followed (a 3xx is a failure): following one would
    bypass the address check.
    """
    try:
        scheme, host, port, path = split_url(url)
        address = resolve(host, port, allow_private)
    except ForbiddenTarget as exc:
        return str(exc)
    if scheme == "https":
        connection = _PinnedHTTPSConnection(address, host, port, timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    headers = {
        "Host": host if port in (80, 443) else f"{host}:{port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": event_id,
        "X-Sensorhub-Event": event_type,
        "X-Sensorhub-Signature": signature(secret, body),
    }
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        if 200 <= response.status < 300:
            return None
        return f"HTTP {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        return f"{exc.__class__.__name__}: {exc}"
    finally:
        connection.close()
