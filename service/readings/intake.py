"""The way of a checked batch into the readings store, shared by the ingest
routes: POST /data and the line protocol writes (``admit``), and the MQTT
bridge (``ingest_counted``, its last step).

Each route parses its own body into grouped readings
(``validation.parse_batch``, ``lineproto.parsing.parse_lines``) and maps
errors to its own answer: ``admit`` raises BatchError for a reading its
sensor's kind refuses, by item index (POST /data answers it as a 422, the
line protocol names the item's line), and aborts with 404 for another
org's sensor, the same on every route.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import keys, units
from ..auth import claim_sensors, refuse_foreign_sensors
from ..metrics import count_expired_readings, count_readings
from ..stores import stores
from .store import ReadingStore
from .validation import ReadingGroups, apply_sensor_units


def admit(
    store: ReadingStore, groups: ReadingGroups, total: int, items, *, assume_tz=None,
    before_claims: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """Write a parsed batch of ``total`` readings for the request's API key:
    (readings new, readings expired).

    In this order: the sensors' metadata (one round trip); 404 for another
    org's sensor, before the unit check, which reads each sensor's kind (so
    another org's sensor answers like a missing one, not a hint of its
    kind); the sensors' units (BatchError listing ``items`` at fault: the
    batch's readings in order, as ``apply_sensor_units`` reports them);
    ``before_claims``, the route's own last check; the claims of sensors of
    no org, the first write; the ingest and its counts. Per batch, never per
    reading: POST /data's hot path pays a few calls a batch for it.
    """
    sensor_units, sensor_orgs = store.sensor_meta(groups)
    unclaimed = refuse_foreign_sensors(groups.keys(), orgs=sensor_orgs)
    apply_sensor_units(groups, sensor_units, items, assume_tz)
    if before_claims is not None:
        before_claims()
    claim_sensors(unclaimed)
    written = ingest_counted(store, groups, total)
    labels = kinds_named_by_units(groups, sensor_units)
    if labels:
        stores().sensors.fill_missing(labels)
    return written


def kinds_named_by_units(groups: ReadingGroups, sensor_units: dict) -> dict[str, dict[str, str]]:
    """Metadata for the batch's sensors of no kind whose readings named
    units of one kind (``{"unit": "F"}``: a temperature): that kind, and
    its canonical unit as the unit of readings sent without one. Their
    readings sent with a unit were stored converted to it, those without
    as sent, which is the number in it: nothing stored is read otherwise,
    and the sensor's answers now name their unit (and convert on asking).
    ``sensor_units``: the batch's sensors that have a kind (``sensor_meta``).
    Readings naming units of two kinds label nothing: which is right is
    for a registration to say."""
    labels = {}
    for sensor, kinds in groups.unit_kinds.items():
        if sensor not in sensor_units and len(kinds) == 1:
            (kind,) = kinds
            labels[sensor] = {keys.SensorMeta.KIND: kind, keys.SensorMeta.INPUT_UNIT: units.KINDS[kind].canonical}
    return labels


def ingest_counted(store: ReadingStore, groups: ReadingGroups, total: int, route: str | None = None) -> tuple[int, int]:
    """Ingest checked readings and count them in ``sensorhub_readings_total``
    (accepted, duplicate) and ``sensorhub_readings_expired_total``, by
    ``route`` (default: the request's endpoint): (readings new, readings
    expired, stored yet older than every time query reaches)."""
    expired = [0]
    accepted = store.ingest(groups, expired=expired)
    count_readings("accepted", accepted, route)
    count_readings("duplicate", total - accepted, route)
    count_expired_readings(expired[0], route)
    return accepted, expired[0]
