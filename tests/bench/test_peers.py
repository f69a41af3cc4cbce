"""bench/peers.py sends each system the same readings: its line-protocol
twin of a JSON batch and its InfluxDB read path are checked here, in process."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import orjson

from bench.ingest import generate
from bench.peers import INFLUX_QUERY, as_line_protocol, influx_read_format
from service import timeutil
from service.lineproto.parsing import parse_lines


def test_line_protocol_twin_holds_the_json_batch_readings_at_microseconds():
    body = generate(40, 3, 50, 0.10, 0.05, seed=1, gateway_size=40)[1]
    items = orjson.loads(body)

    batch = parse_lines(as_line_protocol(body), precision="us", now_us=timeutil.now_us(),
                        max_batch=10_000, bucket_us=3600 * 1_000_000)

    got = sorted((sensor, us, value) for sensor, us, _, _, value, _ in batch.readings)
    want = sorted((i["sensor"], timeutil.parse_instant(i["timestamp"])[0], i["value"]) for i in items)
    assert got == want


def test_influx_read_path_formats_to_the_query_of_one_sensor():
    # random_path.lua formats it with Lua's string.format, whose %05d and %% are Python's.
    path = influx_read_format() % 42

    query = parse_qs(urlsplit(path).query)
    assert query["db"] == ["bench"]
    assert query["q"] == [INFLUX_QUERY.format(sensor="sensor-00042")]
