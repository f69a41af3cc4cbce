"""The heartbeat store and the worker's offline detector of the test app."""

from __future__ import annotations

import pytest

from service.heartbeats.detector import OfflineDetector
from service.stores import stores


@pytest.fixture
def store(app):
    return stores(app).heartbeats


@pytest.fixture
def detector(app, store):
    return OfflineDetector(stores(app).client, store)
