"""POST /data's batch checking with orjson + parse_batch against msgspec.

msgspec decodes and type-checks a body into typed structs in C; the
question is whether that, plus the same grouping loop parse_batch runs,
beats orjson's decode followed by parse_batch's one pass. Both on
bench/ingest.py's bodies (many sensors per batch and many readings per
sensor), in this process, alternating, medians of ``--rounds``; the msgspec
variant is a sketch of the well-formed path only (an invalid batch would go
the usual way for its messages), and its groups are checked equal to
parse_batch's.

    PYTHONPATH=. python bench/json_decoders.py          # needs bench/requirements.txt (msgspec)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import generate  # noqa: E402
from service import timeutil  # noqa: E402
from service.fields import is_sensor_id  # noqa: E402
from service.readings.validation import ReadingGroups, parse_batch  # noqa: E402

BUCKET_US = 3600 * 1_000_000
SHAPES = {"many_sensors": 400, "many_readings": 50}


class Reading(msgspec.Struct, forbid_unknown_fields=True):
    sensor: str
    timestamp: str | int | float
    value: int | float
    unit: str | msgspec.UnsetType = msgspec.UNSET


DECODER = msgspec.json.Decoder(list[Reading] | Reading)


def msgspec_groups(body: bytes) -> tuple[ReadingGroups, int]:
    """The groups parse_batch makes, for well-formed bodies without units."""
    items = DECODER.decode(body)
    if type(items) is Reading:
        items = [items]
    groups = ReadingGroups()
    instants: dict = {}
    good: set[str] = set()
    for item in items:
        sensor, stamp, value = item.sensor, item.timestamp, item.value
        if item.unit is not msgspec.UNSET:
            raise ValueError("units: not in this sketch")
        instant = instants.get(stamp)
        if instant is None:
            instant = instants[stamp] = timeutil.reading_instant(stamp)
        if sensor not in good:
            if not is_sensor_id(sensor):
                raise ValueError(sensor)
            good.add(sensor)
        if type(value) is float and not math.isfinite(value):
            raise ValueError(value)
        text = repr(value)
        us, iso = instant
        group = groups.get(sensor)
        if group is None:
            group = groups[sensor] = [us, iso, text, {}]
        elif us > group[0]:
            group[0], group[1], group[2] = us, iso, text
        bucket, offset = divmod(us, BUCKET_US)
        pairs = group[3].get(bucket)
        if pairs is None:
            group[3][bucket] = [offset, text]
        else:
            pairs.append(offset)
            pairs.append(text)
    return groups, len(items)


def timed(function, bodies: list[bytes], readings: int) -> float:
    started = time.process_time()
    for body in bodies:
        function(body)
    return (time.process_time() - started) * 1e6 / readings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=args.minutes)
    ways = {
        "orjson_parse_batch": lambda body: parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=BUCKET_US),
        "msgspec_and_loop": msgspec_groups,
        "orjson_decode_only": orjson.loads,
        "msgspec_decode_only": DECODER.decode,
    }
    result = {}
    for shape, gateway in SHAPES.items():
        bodies = generate(1000, args.minutes, 500, 0.10, 0.05, 7, gateway, first)
        readings = sum(body.count(b'"sensor"') for body in bodies)
        for body in bodies[:20]:
            assert msgspec_groups(body)[0] == parse_batch(orjson.loads(body), max_batch=10_000, bucket_us=BUCKET_US)[0]
        runs = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                runs[name].append(timed(way, bodies, readings))
        medians = {name: round(statistics.median(values), 3) for name, values in runs.items()}
        medians["msgspec_and_loop / orjson_parse_batch"] = round(
            statistics.median(m / o for m, o in zip(runs["msgspec_and_loop"], runs["orjson_parse_batch"], strict=True)), 3)
        result[shape] = {"us_per_reading": medians}
        print(json.dumps({shape: medians}), file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
