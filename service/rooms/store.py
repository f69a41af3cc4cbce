"""Rooms: temperature readings posted for a room, and the room's average.

A room is a set of sensors (``sensors:room:<b>:<r>``, written at
registration); a reading posted for a room registers its sensor there and
then goes through the same ingest as ``POST /data``. Rooms are per org: an
org key's building and room are its org's own (``keys.sensors_in_room``);
org None is the rooms of no org, which all-orgs keys use.
"""

from __future__ import annotations

from fractions import Fraction

from .. import exactsum, keys, units
from ..fields import room_sensor_id
from ..readings.store import ReadingStore
from ..readings.validation import BatchError, apply_sensor_units, parse_batch
from ..sensors.store import SensorRegistry
from ..settings import Settings

# Rooms whose member list a process remembers (a hint, checked on every read).
MEMBER_CACHE_ROOMS = 10_000


class RoomConflict(Exception):
    """A sensor posted for a room already belongs to another room or kind."""


def default_sensor(building: str, room: str, org: str | None = None) -> str:
    """The room's own sensor id (``fields.room_sensor_id``)."""
    return room_sensor_id(building, room, org)


class RoomStore:
    def __init__(self, client, settings: Settings, *, readings: ReadingStore, registry: SensorRegistry):
        self.settings = settings
        self.readings = readings
        self.registry = registry
        self.client = client
        self._members: dict[str, tuple[str, ...]] = {}

    def post(self, building: str, room: str, items: list[dict], org: str | None = None) -> dict:
        """Validate, register the sensors in the room, then ingest; all or nothing.

        ``items``: deserialised room readings. Raises RoomConflict (nothing
        written) or BatchError (422, nothing written).
        """
        payload = []
        for item in items:
            reading = {"sensor": item.get("sensor") or default_sensor(building, room, org), "timestamp": item["timestamp"][1], "value": item["value"]}
            if "unit" in item:
                reading["unit"] = item["unit"]
            payload.append(reading)
        sensors = sorted({reading["sensor"] for reading in payload})
        metas = self.registry.metadata(sensors)
        conflicts, to_register, sensor_units = [], [], {}
        for sensor, meta in zip(sensors, metas, strict=True):
            if org is not None and meta.get("org") != org:
                # Rooms are per org: an org's room holds its sensors only (the
                # route refused or claimed every other first). An all-orgs
                # key places each sensor in the room of the sensor's org.
                conflicts.append(f"{sensor} belongs to {'org ' + meta['org'] if meta.get('org') else 'no org'}")
            elif meta.get("kind", "temperature") != "temperature":
                conflicts.append(f"{sensor} measures {meta['kind']}")
            elif meta.get("building", building) != building or meta.get("room", room) != room:
                conflicts.append(f"{sensor} belongs to building {meta['building']} room {meta.get('room', '-')}")
            elif meta.get("building") != building or meta.get("room") != room or not meta.get("kind"):
                to_register.append((sensor, meta))
                org_unit = None
                if meta.get("org") and not meta.get("unit"):
                    org_unit = self.client.hget(keys.org(meta["org"]), "unit")
                    org_unit = org_unit.decode() if org_unit else None
                sensor_units[sensor] = ("temperature", units.input_unit("temperature", meta.get("unit"), org_unit))
            else:
                sensor_units[sensor] = ("temperature", meta.get("input_unit") or "C")
        if conflicts:
            raise RoomConflict("; ".join(conflicts) + ". Move the sensor with PUT /v1/sensors/<id> first.")
        groups, total = parse_batch(
            payload, max_batch=len(payload), bucket_us=self.settings.bucket_seconds * 1_000_000,
            future_tolerance=self.settings.future_tolerance,
        )
        apply_sensor_units(groups, sensor_units, payload)
        for sensor, meta in to_register:
            self.registry.put(sensor, {**meta, "building": building, "room": room, "kind": "temperature"})
        expired = [0]
        accepted = self.readings.ingest(groups, expired=expired)
        answer = {"accepted": accepted, "duplicates": total - accepted, "sensors": sensors}
        if expired[0]:
            answer["expired"] = expired[0]  # as POST /data says it: present only when some are
        return answer

    def average(self, building: str, room: str, start_us: int, end_us: int, org: str | None = None) -> dict:
        """Mean of all readings of all the room's sensors in [start, end).

        One round trip in the usual case: the room's members are read in the
        same pipeline as the windows of the members this process saw last
        time; only if they changed does a second round trip read the others.
        """
        room_key = keys.sensors_in_room(building, room, org)
        # An org's room also reads the room of no org, where its sensors
        # were indexed before rooms were per org (each leaves it when it is
        # registered again); the org check below keeps the others out.
        room_keys = [room_key] if org is None else [room_key, keys.sensors_in_room(building, room)]
        guessed = self._members.get(room_key, ())
        members_now, aggregates = self.registry.windows(guessed, start_us, end_us, members_of=room_keys)
        members = tuple(sorted(m.decode() for m in members_now))
        if members != guessed:
            if len(self._members) >= MEMBER_CACHE_ROOMS:
                self._members.clear()
            self._members[room_key] = members
            by_sensor = dict(zip(guessed, aggregates, strict=True))
            missing = [m for m in members if m not in by_sensor]
            by_sensor.update(zip(missing, self.registry.windows(missing, start_us, end_us)[1], strict=True))
            aggregates = [by_sensor[m] for m in members]
        count, total, contributing = 0, Fraction(0), []
        for sensor, found in zip(members, aggregates, strict=True):
            # An index entry left by a racing move is not the room's sensor.
            if (found["building"], found["room"], found["org"]) != (building, room, org) or not found["count"]:
                continue
            count += found["count"]
            total += Fraction(found["sum"])  # exact: a float would round each addition
            contributing.append(sensor)
        return {"count": count, "avg": exactsum.mean(total, count), "sensors": contributing}


__all__ = ["BatchError", "RoomConflict", "RoomStore", "default_sensor"]
