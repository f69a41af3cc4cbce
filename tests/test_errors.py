"""Error messages fit the request's method: a read changes nothing by
nature, so only a refused write says that nothing was written."""

from __future__ import annotations

import redis

from service.stores import stores


def test_an_invalid_read_is_invalid_without_claiming_nothing_was_written(client):
    answer = client.get("/v1/sensors?limit=0")
    assert answer.status_code == 422
    assert answer.json["message"] == "The request is invalid."
    assert "query" in answer.json["errors"]


def test_an_invalid_write_says_nothing_was_written(client):
    answer = client.post("/data?precision=h", json=[])
    assert answer.status_code == 422
    assert answer.json["message"] == "The request is invalid; nothing was written."


def test_redis_not_answering_says_nothing_was_written_only_to_writes(app, client, monkeypatch):
    def lost(*args, **kwargs):
        raise redis.ConnectionError("connection lost")

    monkeypatch.setattr(stores(app).readings, "statistics", lost)
    monkeypatch.setattr(stores(app).readings, "clear", lost)
    read = client.get("/statistics/s")
    assert read.status_code == 503
    assert read.json["message"] == "The data store is not answering. Retry shortly."
    write = client.delete("/statistics/s")
    assert write.status_code == 503
    assert write.json["message"] == "The data store is not answering; nothing was written. Retry shortly."
