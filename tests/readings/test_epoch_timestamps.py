"""Epoch timestamps and lone readings, the same on both routes that take
readings: ``POST /data`` and a room's ``POST .../temperatures``.

A timestamp is ISO 8601 text or a JSON number since the Unix epoch in the
units ``?precision=`` names (s, ms, us; default s), converted exactly; the
same instant in either form is one reading. Bad input is 422 by item and
field (or naming ``precision``) and writes nothing.
"""

from __future__ import annotations

import pytest

DATA = "/data"
ROOM = "/v1/buildings/B1/rooms/R1/temperatures"
ROUTES = pytest.mark.parametrize("route", [DATA, ROOM], ids=["data", "room"])

# 2024-05-01T00:00:00.123456Z in every form.
ISO_BRUSSELS = "2024-05-01T02:00:00.123456+02:00"
SECONDS = 1714521600.123456
MILLISECONDS = 1714521600123.456
MICROSECONDS = 1714521600123456


def post(client, route, body, precision=None, status=200):
    query = {} if precision is None else {"precision": precision}
    response = client.post(route, json=body, query_string=query)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def statistics(client, sensor="t"):
    return client.get(f"/statistics/{sensor}").get_json()


def reading(timestamp, value=21.5, sensor="t"):
    return {"sensor": sensor, "timestamp": timestamp, "value": value}


# precision (None: not given), the number sent, the instant stored
EXACT = [
    (None, 1714521600, "2024-05-01T00:00:00Z"),
    ("s", 1714521600.5, "2024-05-01T00:00:00.500000Z"),
    ("s", SECONDS, "2024-05-01T00:00:00.123456Z"),
    ("ms", 1714521600123, "2024-05-01T00:00:00.123000Z"),
    ("ms", MILLISECONDS, "2024-05-01T00:00:00.123456Z"),
    ("us", MICROSECONDS, "2024-05-01T00:00:00.123456Z"),
]


@ROUTES
def test_an_epoch_number_is_read_exactly_in_the_units_of_its_precision(client, route):
    for case, (precision, stamp, stored) in enumerate(EXACT):
        sensor = f"t{case}"
        answer = post(client, route, [reading(stamp, sensor=sensor)], precision)
        assert (answer["accepted"], answer["duplicates"]) == (1, 0)
        assert statistics(client, sensor) == {"last_measurement": stored, "count": 1, "avg": 21.5}, (precision, stamp)


@ROUTES
def test_the_same_instant_as_iso_text_and_as_a_number_in_any_precision_is_one_reading(client, route):
    post(client, route, [reading(ISO_BRUSSELS, 20.0)])
    for precision, stamp in (("s", SECONDS), ("ms", MILLISECONDS), ("us", MICROSECONDS)):
        answer = post(client, route, [reading(stamp, 30.0)], precision)
        assert (answer["accepted"], answer["duplicates"]) == (0, 1), precision
    # The first copy wins, in the form it was sent.
    assert statistics(client) == {"last_measurement": ISO_BRUSSELS, "count": 1, "avg": 20.0}


@ROUTES
def test_an_unknown_precision_is_422_naming_the_accepted_ones_and_writes_nothing(client, redis_client, route):
    body = post(client, route, [reading(1714521600)], "ns", status=422)
    assert body["errors"] == {"query": {"precision": ["Not a known precision; one of: s, ms, us."]}}
    assert redis_client.dbsize() == 0


# precision, a timestamp that is no instant of the service, what its message says
REFUSED = [
    ("s", True, "true and false are not numbers"),
    ("s", -1, "from 0 to below 4102444800 seconds"),
    ("s", -0.000001, "from 0 to below 4102444800 seconds"),
    ("s", 4102444800, "from 0 to below 4102444800 seconds"),
    ("s", 1714521600123, "from 0 to below 4102444800 seconds"),  # milliseconds sent as seconds
    ("ms", 4102444800000, "from 0 to below 4102444800000 milliseconds"),
    ("us", 1e300, "from 0 to below 4102444800000000 microseconds"),
]


@ROUTES
def test_a_timestamp_no_instant_of_the_service_is_422_by_item_and_field_and_writes_nothing(client, redis_client, route):
    for precision, stamp, message_part in REFUSED:
        body = post(client, route, [reading(1714521600), reading(stamp)], precision, status=422)
        assert list(body["errors"]["json"]) == ["1"], stamp
        assert message_part in " ".join(body["errors"]["json"]["1"]["timestamp"]), stamp
    assert redis_client.dbsize() == 0


@ROUTES
def test_a_lone_reading_object_is_a_batch_of_one(client, route):
    answer = post(client, route, reading(SECONDS))
    assert (answer["accepted"], answer["duplicates"]) == (1, 0)
    answer = post(client, route, reading(ISO_BRUSSELS))
    assert (answer["accepted"], answer["duplicates"]) == (0, 1)


def test_a_lone_invalid_reading_on_post_data_is_refused_as_item_0_of_its_batch(client, redis_client):
    body = post(client, DATA, reading(True), status=422)
    assert body["message"] == "1 of 1 readings are invalid; nothing of the batch was written."
    assert list(body["errors"]["json"]) == ["0"] and list(body["errors"]["json"]["0"]) == ["timestamp"]
    assert redis_client.dbsize() == 0


def test_post_data_documents_precision_and_a_lone_reading_in_openapi(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/data"]["post"]
    (precision,) = [p for p in operation["parameters"] if p["name"] == "precision"]
    assert precision["in"] == "query" and precision["schema"]["enum"] == ["s", "ms", "us"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Reading"} in body["oneOf"]
