"""InfluxDB line protocol bodies as grouped readings (docs/protocols.md).

Each line is parsed by line-protocol-parser (C); each of its numeric
fields becomes one reading, grouped straight into the form the readings
store ingests (``readings.validation.group_checked``): instants stay integers
of microseconds from the line to Redis, and only each sensor's latest one
is written as text.

Sensor id: the ``sensor`` tag for the field named ``value``,
``<sensor>.<field>`` for its other fields; without the tag
``<measurement>.<field>``. Unit: the ``unit`` tag, else the sensor's (as
``POST /data``). Other tags are ignored. String and boolean fields are
refused: sensorhub stores numbers.
"""

from __future__ import annotations

from line_protocol_parser import LineFormatError, parse_line

from .. import timeutil, units
from ..fields import MSG_SENSOR_ID, is_sensor_id
from ..readings.validation import BatchError, ReadingGroups, canonical_text, group_checked

# A timestamp's precision -> microseconds per unit (ns: divided by 1000,
# finer digits truncated as POST /data truncates them).
PRECISIONS = ("ns", "us", "ms", "s")
# InfluxDB 1.x's /write also names them n and u, and takes minutes and hours.
V1_PRECISIONS = ("ns", "n", "us", "u", "ms", "s", "m", "h")
_US_PER = {"us": 1, "u": 1, "ms": 1000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000}
SENSOR_TAG = "sensor"
UNIT_TAG = "unit"
# The field that is the sensor itself when a line names it with the sensor tag.
VALUE_FIELD = "value"
# Characters of a line shown in an error message.
_SHOWN = 200
# Lines listed in an error's ``errors``.
_LISTED = 100


class LineBatch:
    """A parsed body: the grouped readings (for the ingest), their count,
    and each reading's (sensor, microseconds, text, unit, value, line
    number), for the error report of a unit check that fails later."""

    __slots__ = ("groups", "total", "readings", "lines")

    def __init__(self, groups: ReadingGroups, readings: list[tuple], lines: int):
        self.groups = groups
        self.total = len(readings)
        self.readings = readings
        self.lines = lines


class LineError(BatchError):
    """Bad lines: 400 naming the first, ``errors`` by line number; ``readings``
    is how many readings the body carried as far as can be told."""

    def __init__(self, problems: dict[int, str], lines: int, readings: int):
        first = min(problems)
        count = len(problems)
        message = f"{problems[first]} (line {first})"
        if count > 1:
            message += f" (and {count - 1} more of {lines} lines)"
        listed = {str(number): [problems[number]] for number in sorted(problems)[:_LISTED]}
        super().__init__(400, message + "; nothing was written.", {"body": listed})
        self.readings = readings


def _shown(line: bytes) -> str:
    text = line.decode("utf-8", "replace").rstrip("\r")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def parse_lines(
    body: bytes, *, precision: str, now_us: int, max_batch: int, bucket_us: int, future_tolerance: int | None = None,
) -> LineBatch:
    """Check and group every reading of a line protocol body; LineError
    (400) when a line is bad, BatchError (413) over ``max_batch`` readings.
    Lines without a timestamp take ``now_us``; a timestamp later than
    ``now_us`` plus ``future_tolerance`` seconds (FUTURE_TOLERANCE; None:
    not checked) is refused."""
    latest = timeutil.MAX_US if future_tolerance is None else now_us + future_tolerance * 1_000_000
    readings: list[tuple] = []
    problems: dict[int, str] = {}
    good_sensors: set[str] = set()
    per = _US_PER.get(precision)
    lines = body.split(b"\n")
    carried = 0  # readings of the body as far as can be told (a line not parsed: 1)
    for number, line in enumerate(lines, 1):
        if not line or line.isspace():
            continue
        try:
            point = parse_line(line)
        except LineFormatError as exc:
            problems[number] = f"unable to parse '{_shown(line)}': {exc}"
            carried += 1
            continue
        except UnicodeDecodeError:
            problems[number] = f"unable to parse '{_shown(line)}': not UTF-8 text."
            carried += 1
            continue
        if point is None:  # a comment
            continue
        carried += len(point["fields"])
        stamp = point["time"]
        if stamp is None:
            us = now_us
        else:
            us = stamp // 1000 if per is None else stamp * per
            if not timeutil.MIN_US <= us < timeutil.MAX_US:
                problems[number] = (
                    f"unable to parse '{_shown(line)}': timestamp {stamp} ({precision}) out of range: "
                    "it must lie between 1970-01-01 and 2100-01-01 UTC."
                )
                continue
            if us > latest:
                problems[number] = (f"unable to parse '{_shown(line)}': timestamp {stamp} ({precision}): "
                                    + timeutil.future_message(us, latest, future_tolerance))
                continue
        tags = point["tags"]
        named = tags.get(SENSOR_TAG)
        unit = tags.get(UNIT_TAG)
        if unit is not None and unit not in units.KIND_OF_UNIT:
            problems[number] = f"unable to parse '{_shown(line)}': unit tag {unit!r}: {units.MSG_UNIT}"
            continue
        problem = None
        for key, value in point["fields"].items():
            if named is None:
                sensor = f"{point['measurement']}.{key}"
            else:
                sensor = named if key == VALUE_FIELD else f"{named}.{key}"
            kind = type(value)
            if kind is float or kind is int:
                text = repr(value) if unit is None else canonical_text(value, unit)
                if text is None:
                    problem = f"field {key!r}: {units.bounds_error(units.to_canonical(float(value), unit), units.KIND_OF_UNIT[unit])}"
            elif kind is str:
                problem = f"field {key!r} is a string; sensorhub stores numbers (float, integer i, unsigned u)."
            else:
                problem = f"field {key!r} is a boolean; sensorhub stores numbers (float, integer i, unsigned u)."
            if problem is None and sensor not in good_sensors:
                if is_sensor_id(sensor):
                    good_sensors.add(sensor)
                else:
                    problem = f"sensor id {sensor[:130]!r}: {MSG_SENSOR_ID}"
            if problem is not None:
                problems[number] = f"unable to parse '{_shown(line)}': {problem}"
                break
            readings.append((sensor, us, text, unit, value, number))
    if problems:
        raise LineError(problems, len(lines), carried)
    if not readings:
        raise BatchError(400, "The body holds no line protocol point; send lines such as 'temp,sensor=t-1 value=21.5'.")
    if carried > max_batch:
        raise BatchError(413, f"A write holds at most {max_batch} readings (MAX_BATCH); this one has {carried}. Split it.")
    return LineBatch(group_checked(readings, bucket_us), readings, len(lines))


def sensor_unit_errors(batch: LineBatch, error: BatchError) -> LineError:
    """``apply_sensor_units``' refusal (by reading index) as lines."""
    problems = {}
    for index, detail in error.errors["json"].items():
        sensor, _, _, _, value, number = batch.readings[int(index)]
        messages = " ".join(message for messages in detail.values() for message in messages)
        problems.setdefault(number, f"sensor {sensor!r}, value {value!r}: {messages}")
    return LineError(problems, batch.lines, batch.total)


class SensorItems:
    """The readings as the items ``apply_sensor_units`` reports on (built
    only when it finds a reading at fault)."""

    def __init__(self, batch: LineBatch):
        self.batch = batch

    def __len__(self) -> int:
        return self.batch.total

    def __iter__(self):
        for sensor, _, _, unit, value, _ in self.batch.readings:
            yield {"sensor": sensor, "value": value} if unit is None else {"sensor": sensor, "value": value, "unit": unit}
