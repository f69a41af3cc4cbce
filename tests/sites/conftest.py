"""Helpers for the sites tests: create a site through the API."""

from __future__ import annotations

import pytest


@pytest.fixture
def make_site(client):
    def make(site_id: str = "willo", **fields):
        body = {"id": site_id, "name": "Willo Woods", "location": "north", **fields}
        response = client.post("/v1/sites", json=body)
        assert response.status_code == 201, response.json
        return response.json

    return make
