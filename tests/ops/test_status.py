"""GET /v1/status: each background worker's last detection pass, and
whether it is late (as the workers record their passes in Redis)."""

from __future__ import annotations

import json
import time

from service.stores import stores
from tests.auth.authkeys import ALL_ADMIN, ALL_READ, KEYS, bearer


def test_status_shows_each_workers_last_pass_and_which_is_late(client, app):
    passes = stores(app).workers
    now = time.time()
    passes.record("fresh-1", interval=15.0, now=now - 5)
    passes.record("stalled-2", interval=15.0, now=now - 46)  # over three intervals ago
    body = client.get("/v1/status").get_json()
    assert [(w["worker"], w["late"]) for w in body["workers"]] == [("fresh-1", False), ("stalled-2", True)]
    assert body["detection_current"] is True
    assert body["workers"][1]["age"] >= 46 and body["workers"][1]["last_pass"].endswith("Z")


def test_status_without_a_current_worker_says_detection_is_not_current(client, app):
    stores(app).workers.record("stalled", interval=1.0, now=time.time() - 10)
    assert client.get("/v1/status").get_json()["detection_current"] is False
    stores(app).workers.forget("stalled")
    assert client.get("/v1/status").get_json() == {"detection_current": False, "workers": []}


def test_status_needs_an_admin_key(make_app):
    client = make_app(api_keys_text=json.dumps(KEYS)).test_client()
    assert client.get("/v1/status", headers=bearer(ALL_READ)).status_code == 403
    assert client.get("/v1/status", headers=bearer(ALL_ADMIN)).status_code == 200
