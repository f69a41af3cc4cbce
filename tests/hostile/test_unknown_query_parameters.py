"""A query parameter the route does not know is a 422 naming it, in the one
error shape, and nothing is written: a misspelt ``?precison=ms`` or
``?bucket_size=1h`` must not be silently ignored. The line protocol routes
take what influx clients add (``rp``, ``consistency``, ...) and ignore it."""

from __future__ import annotations

import pytest

READING = [{"sensor": "q-1", "timestamp": 1764496800, "value": 21.5}]


@pytest.mark.parametrize("path", [
    "/sensors?limit=10&bogus=1",
    "/sensors/changes?since=1&sinse=2",
    "/v1/sensors?bogus=1",
    "/v1/events?bogus=1",
    "/v1/series?sensors=q-1&bucket_size=1h",
    "/v1/admin/toohotornot?siteId=s1&day=2026-01-01",
])
def test_a_read_with_an_unknown_parameter_is_422_naming_it(client, path):
    answer = client.get(path)
    assert answer.status_code == 422, answer.data
    unknown = path.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]
    assert answer.json["errors"]["query"][unknown] == ["Unknown field."]
    assert answer.json["code"] == 422 and answer.json["message"]


def test_a_batch_with_a_misspelt_parameter_is_422_and_writes_nothing(client):
    answer = client.post("/data?precison=ms", json=READING)
    assert answer.status_code == 422
    assert answer.json["errors"]["query"] == {"precison": ["Unknown field."]}
    assert client.get("/statistics/q-1").json["count"] == 0
    assert client.post("/data?precision=s", json=READING).json["accepted"] == 1


def test_line_protocol_takes_the_parameters_influx_clients_add(client):
    line = b"readings,sensor=q-2 value=19.5 1764496800"
    answer = client.post("/write?db=x&rp=autogen&consistency=one&precision=s", data=line, content_type="text/plain")
    assert answer.status_code == 204, answer.data
    assert client.get("/statistics/q-2").json["count"] == 1
