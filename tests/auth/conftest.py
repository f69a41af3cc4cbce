"""Apps with API keys configured, on the suite's real Redis."""

from __future__ import annotations

import json

import pytest

from .authkeys import KEYS


@pytest.fixture
def make_app(make_app):
    """Build an app with the given API keys (a dict as in API_KEYS)."""

    def build(keys: dict = KEYS, **changes):
        return make_app(api_keys_text=json.dumps(keys), **changes)

    return build


@pytest.fixture
def keyed(make_app):
    """Test client of an app with the standard test keys."""
    return make_app().test_client()
