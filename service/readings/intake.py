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

from ..auth import claim_sensors, refuse_foreign_sensors
from ..metrics import count_expired_readings, count_readings
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
    return ingest_counted(store, groups, total)


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
