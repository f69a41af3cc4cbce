"""Helpers for the too-hot tests: a settable clock, posting and asking."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from service.stores import stores

BRUSSELS = ZoneInfo("Europe/Brussels")


def epoch(text: str, zone=BRUSSELS) -> float:
    """Seconds since the epoch of a wall-clock time ``YYYY-MM-DD HH:MM[:SS]`` in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


@pytest.fixture
def set_now(app):
    """Put the service's clock at a wall-clock time in Brussels (or a zone)."""

    def set_to(text: str, zone=BRUSSELS) -> None:
        moment = epoch(text, zone)
        stores(app).toohot.clock = lambda: moment

    return set_to


@pytest.fixture
def post(client):
    def send(body, status: int = 200):
        response = client.post("/v1/temperatures", json=body)
        assert response.status_code == status, response.json
        return response.json

    return send


@pytest.fixture
def answer(client):
    def ask(site_id: str, status: int = 200, **query):
        response = client.get("/v1/admin/toohotornot", query_string={"siteId": site_id, **query})
        assert response.status_code == status, response.json
        return response.json

    return ask


def reading(site="abc123", org="alphacorp", temperature=21.0, at="2024-07-15 10:00", **extra) -> dict:
    return {"siteId": site, "orgId": org, "temperature": temperature, "timestamp": epoch(at), **extra}
