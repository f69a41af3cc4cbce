"""REDIS_WAIT_REPLICAS on the test Redis: WAIT rides at the end of the ingest pipeline.

The suite's Redis has no replica (single server) or one per master
(``make test-cluster``): two acknowledgements never come.
"""

from __future__ import annotations

from service import create_app
from service.stores import stores

BATCH = [{"sensor": f"w{n}", "timestamp": "2024-05-01T00:00:00Z", "value": n} for n in range(20)]


def test_missing_replica_acknowledgements_answer_503_and_a_retry_is_harmless(settings, clean_redis):
    strict = create_app(settings.replace(redis_wait_replicas=2, redis_wait_timeout_ms=20))
    response = strict.test_client().post("/data", json=BATCH)
    assert response.status_code == 503, response.json
    assert "REDIS_WAIT_REPLICAS" in response.json["message"]

    relaxed = create_app(settings)
    retried = relaxed.test_client().post("/data", json=BATCH)
    assert retried.json == {"accepted": 0, "duplicates": len(BATCH)}
    assert relaxed.test_client().get("/statistics/w7").json["count"] == 1
    for app in (strict, relaxed):
        stores(app).client.close()
