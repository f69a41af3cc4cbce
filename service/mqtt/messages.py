"""What an MQTT message says, as the batch ``POST /data`` would take.

``sensorhub/<sensor>`` carries one reading object or an array of them for
the sensor its last topic level names (``sensor`` may be left out, or must
name that sensor); a topic ending in ``/data`` carries a ``POST /data``
batch (or one reading object). The JSON is read as ``POST /data`` reads a body (orjson: no NaN, no
Infinity, no number beyond a double; repeated keys refused); the readings
then go through the batch checker of ``POST /data``, where a number for a
timestamp counts seconds since the epoch (``POST /data``'s default
precision: a topic has no query to name another).
"""

from __future__ import annotations

import orjson

from ..fields import MSG_SENSOR_ID, is_sensor_id
from ..jsonio import count_strings, repeated_key
from ..readings.validation import BatchError

# The last topic level of a message carrying a POST /data batch.
DATA_LEVEL = "data"


def batch_of(topic: str, payload: bytes, *, max_bytes: int) -> list:
    """The readings of one message as a ``POST /data`` batch (not yet
    validated); BatchError with the status ``POST /data`` would answer."""
    if len(payload) > max_bytes:
        raise BatchError(413, f"The message has {len(payload)} bytes; at most {max_bytes} (MAX_BODY_BYTES).")
    if not payload:
        raise BatchError(400, "The message is empty; send a JSON document.")
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BatchError(400, f"The message is not valid JSON: {exc}") from None
    problem = repeated_key(payload, count_strings(document))
    if problem:
        raise BatchError(400, problem)
    level = topic.rpartition("/")[2]
    if level == DATA_LEVEL:
        return [document] if type(document) is dict else document
    return _sensor_readings(level, document)


def _sensor_readings(sensor: str, document) -> list:
    """The readings sent on a sensor's own topic, each naming the sensor."""
    if not is_sensor_id(sensor):
        raise BatchError(422, f"The topic's last level {sensor[:130]!r} is not a sensor id: {MSG_SENSOR_ID}.")
    items = document if type(document) is list else [document]
    batch, errors = [], {}
    for index, item in enumerate(items):
        if type(item) is dict and "sensor" not in item:
            item = {"sensor": sensor, **item}
        elif type(item) is dict and item["sensor"] != sensor:
            errors[str(index)] = {"sensor": [f"Must be the topic's sensor {sensor!r}, or left out."]}
        batch.append(item)
    if errors:
        raise BatchError(
            422,
            f"{len(errors)} of {len(items)} readings name another sensor than their topic; nothing was written.",
            {"json": errors},
        )
    return batch
