"""The official influxdb-client writing to sensorhub over HTTP as it writes
to InfluxDB: gzipped bodies, ``Authorization: Token``, keys' roles and org
scope as for POST /data."""

from __future__ import annotations

import json

import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from ..auth.authkeys import ALL_INGEST, ALL_READ, ALPHA_INGEST, ALPHA_READ, BETA_INGEST, bearer

NS = 1714521600000000000


@pytest.fixture
def influx(served):
    """Write with the influx client: ``influx(key, records, **write options)``."""
    clients = []

    def write(key: str, records, **options):
        client = InfluxDBClient(url=served, token=key, org="facility", enable_gzip=True)
        clients.append(client)
        client.write_api(write_options=SYNCHRONOUS).write(bucket="sensors", record=records, **options)

    yield write
    for client in clients:
        client.close()


def stats(app, sensor: str, key: str = ALL_READ) -> dict:
    return app.test_client().get(f"/statistics/{sensor}", headers=bearer(key)).get_json()


def test_the_influx_client_writes_gzipped_line_protocol_with_its_token(influx, keyed_app, content_encodings):
    influx(ALL_INGEST, [f"cpu,host=a usage_idle=98.5 {NS}", f"temp,sensor=t-1,unit=C value=21.5 {NS}"])
    influx(ALL_INGEST, Point("temp").tag("sensor", "t-1").field("value", 23.5).time(NS // 10**9 + 60, WritePrecision.S),
           write_precision=WritePrecision.S)
    assert stats(keyed_app, "cpu.usage_idle") == {"last_measurement": "2024-05-01T00:00:00Z", "count": 1, "avg": 98.5}
    assert stats(keyed_app, "t-1") == {"last_measurement": "2024-05-01T00:01:00Z", "count": 2, "avg": 22.5}
    assert content_encodings == ["gzip", "gzip"]


def test_a_bad_line_comes_back_to_the_client_as_a_400_naming_it(influx, redis_client):
    with pytest.raises(ApiException) as refused:
        influx(ALL_INGEST, [f"temp,sensor=t-1 value=21.5 {NS}", 'temp,sensor=t-1 value="warm"'])
    assert refused.value.status == 400
    assert "(line 2)" in json.loads(refused.value.body)["message"]
    assert redis_client.dbsize() == 0


def test_writes_need_an_ingest_key(influx, keyed_app):
    with pytest.raises(ApiException) as refused:
        influx(ALL_READ, f"temp,sensor=t-1 value=21.5 {NS}")
    assert refused.value.status == 403
    with pytest.raises(ApiException) as unknown:
        influx("not-a-key", f"temp,sensor=t-1 value=21.5 {NS}")
    assert unknown.value.status == 401
    assert stats(keyed_app, "t-1")["count"] == 0


def test_an_org_key_writes_only_its_orgs_sensors(influx, keyed_app):
    influx(ALPHA_INGEST, f"temp,sensor=alpha-1 value=21.5 {NS}")
    with pytest.raises(ApiException) as refused:
        influx(BETA_INGEST, [f"temp,sensor=beta-1 value=20 {NS}", f"temp,sensor=alpha-1 value=30 {NS + 10**9}"])
    assert refused.value.status == 404
    assert "alpha-1" in json.loads(refused.value.body)["message"]
    assert stats(keyed_app, "alpha-1", ALPHA_READ)["count"] == 1
    assert stats(keyed_app, "beta-1")["count"] == 0
