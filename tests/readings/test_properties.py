"""Random batches with duplicates, offsets, late readings and clears give
exactly the statistics of a plain Python model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SENSORS = ["a", "b", "c.d", "e:f"]
BASE = datetime(2021, 11, 8, 12, 0, tzinfo=UTC)
OFFSETS = [timedelta(0), timedelta(hours=1), timedelta(hours=-5), timedelta(hours=5, minutes=30)]


class Model:
    """Batch ingest and statistics, written as plainly as possible."""

    def __init__(self):
        self.readings: dict[str, dict[datetime, tuple[float, str]]] = {}

    def post(self, batch):
        new = 0
        for item in batch:
            instant = datetime.fromisoformat(item["timestamp"])
            known = self.readings.setdefault(item["sensor"], {})
            if instant not in known:
                known[instant] = (item["value"], item["timestamp"])
                new += 1
        return {"accepted": new, "duplicates": len(batch) - new}

    def delete(self, sensor):
        self.readings.pop(sensor, None)

    def statistics(self, sensor):
        known = self.readings.get(sensor) or {}
        if not known:
            return None, 0, 0.0
        latest = max(known)
        return latest, len(known), sum(v for v, _ in known.values()) / len(known)


def timestamp_text(minute: int, offset: timedelta, micro: int) -> str:
    moment = (BASE + timedelta(minutes=minute, microseconds=micro)).astimezone(timezone(offset))
    text = moment.isoformat()
    return text[:-6] + "Z" if offset == timedelta(0) and text.endswith("+00:00") else text


readings = st.builds(
    lambda sensor, minute, offset, micro, value: {
        "sensor": sensor,
        "timestamp": timestamp_text(minute, offset, micro),
        "value": value,
    },
    st.sampled_from(SENSORS),
    st.integers(min_value=-24 * 60, max_value=24 * 60),  # up to a day late or early
    st.sampled_from(OFFSETS),
    st.sampled_from([0, 0, 1, 500_000]),
    st.one_of(st.integers(-50, 50), st.floats(-1e6, 1e6, allow_nan=False)),
)
operations = st.lists(
    st.one_of(st.lists(readings, max_size=30).map(lambda b: ("post", b)), st.sampled_from(SENSORS).map(lambda s: ("delete", s))),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations)
def test_statistics_match_the_model(client, redis_client, ops):
    redis_client.flushall()
    model = Model()
    for kind, arg in ops:
        if kind == "post":
            response = client.post("/data", json=arg)
            assert response.status_code == 200
            assert response.get_json() == model.post(arg)
        else:
            assert client.delete(f"/statistics/{arg}").status_code == 204
            model.delete(arg)
    for sensor in SENSORS:
        got = client.get(f"/statistics/{sensor}").get_json()
        latest, count, avg = model.statistics(sensor)
        assert got["count"] == count
        assert got["avg"] == pytest.approx(avg, rel=1e-9, abs=1e-9)
        if latest is None:
            assert got["last_measurement"] is None
        else:
            assert datetime.fromisoformat(got["last_measurement"]) == latest
