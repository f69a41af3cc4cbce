"""Apps with API keys configured, on the suite's real Redis."""

from __future__ import annotations

import json

import pytest

from service import create_app
from service.stores import stores

from .authkeys import KEYS


@pytest.fixture
def make_app(settings, clean_redis):
    """Build an app with the given API keys (a dict as in API_KEYS)."""
    apps = []

    def build(keys: dict = KEYS, **changes):
        app = create_app(settings.replace(api_keys_text=json.dumps(keys), **changes))
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        stores(app).client.close()


@pytest.fixture
def keyed(make_app):
    """Test client of an app with the standard test keys."""
    return make_app().test_client()
