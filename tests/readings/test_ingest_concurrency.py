"""INGEST_CONCURRENCY: a web worker works on at most that many batches at
once; the others wait their turn and are then stored, none refused."""

from __future__ import annotations

import threading

import orjson
import pytest

from service.stores import stores

READING = {"sensor": "slot-1", "timestamp": "2026-11-30T10:00:00Z", "value": 21.5}
LINE = b"readings,sensor=slot-2 value=19.5 1764496800"


def _post(client, path: str, body: bytes, content_type: str) -> threading.Thread:
    answers = []

    def send():
        answers.append(client.post(path, data=body, content_type=content_type).status_code)

    thread = threading.Thread(target=send)
    thread.answers = answers
    thread.start()
    return thread


@pytest.mark.parametrize(("path", "body", "content_type", "status"), [
    ("/data", orjson.dumps([READING]), "application/json", 200),
    ("/write?precision=s", LINE, "text/plain", 204),
    ("/api/v2/write?precision=s", LINE, "text/plain", 204),
])
def test_a_batch_waits_while_the_slots_are_taken_then_is_stored(make_app, path, body, content_type, status):
    app = make_app(ingest_concurrency=1)
    slot = stores(app).readings.batch_slot()
    with slot:  # another batch of this worker is being worked on
        waiting = _post(app.test_client(), path, body, content_type)
        waiting.join(0.5)
        assert waiting.is_alive(), "the batch did not wait for the slot"
    waiting.join(5)
    assert waiting.answers == [status]
    sensor = "slot-1" if path == "/data" else "slot-2"
    assert app.test_client().get(f"/statistics/{sensor}").get_json()["count"] == 1


def test_without_a_limit_batches_never_wait(make_app):
    app = make_app()  # INGEST_CONCURRENCY=0, the default
    slot = stores(app).readings.batch_slot()
    with slot:
        answer = app.test_client().post("/data", data=orjson.dumps([READING]), content_type="application/json")
    assert answer.status_code == 200
