"""Rooms: temperature readings posted for a room, and the room's average.

A room is a set of sensors (``sensors:room:<b>:<r>``, written at
registration); a reading posted for a room registers its sensor there and
then goes through the same ingest as ``POST /data``.
"""

from __future__ import annotations

from flask import Flask

from .. import keys, units
from ..readings.validation import BatchError, apply_sensor_units, parse_batch
from ..settings import Settings


class RoomConflict(Exception):
    """A sensor posted for a room already belongs to another room or kind."""


def default_sensor(building: str, room: str) -> str:
    """The room's own sensor id (building and room ids contain no ".")."""
    return f"room.{building}.{room}"


class RoomStore:
    def __init__(self, app: Flask, settings: Settings):
        self.settings = settings
        self.readings = app.extensions["readings"]
        self.registry = app.extensions["sensors"]
        self.client = self.registry.client

    def post(self, building: str, room: str, items: list[dict]) -> dict:
        """Validate, register the sensors in the room, then ingest; all or nothing.

        ``items``: deserialised room readings. Raises RoomConflict (nothing
        written) or BatchError (422, nothing written).
        """
        payload = []
        for item in items:
            reading = {"sensor": item.get("sensor") or default_sensor(building, room), "timestamp": item["timestamp"][1], "value": item["value"]}
            if "unit" in item:
                reading["unit"] = item["unit"]
            payload.append(reading)
        sensors = sorted({reading["sensor"] for reading in payload})
        metas = self.registry.metadata(sensors)
        conflicts, to_register, sensor_units = [], [], {}
        for sensor, meta in zip(sensors, metas, strict=True):
            if meta.get("kind", "temperature") != "temperature":
                conflicts.append(f"{sensor} measures {meta['kind']}")
            elif meta.get("building") and (meta.get("building"), meta.get("room")) != (building, room):
                conflicts.append(f"{sensor} belongs to building {meta['building']} room {meta.get('room')}")
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
            payload, max_batch=len(payload), bucket_us=self.settings.bucket_seconds * 1_000_000
        )
        apply_sensor_units(groups, sensor_units, payload)
        for sensor, meta in to_register:
            self.registry.put(sensor, {**meta, "building": building, "room": room, "kind": "temperature"})
        accepted = self.readings.ingest(groups)
        return {"accepted": accepted, "duplicates": total - accepted, "sensors": sensors}

    def average(self, building: str, room: str, start_us: int, end_us: int) -> dict:
        """Mean of all readings of all the room's sensors in [start, end)."""
        members = sorted(m.decode() for m in self.client.smembers(keys.sensors_in_room(building, room)))
        count, total, contributing = 0, 0.0, []
        for sensor, found in zip(members, self.registry.windows(members, start_us, end_us), strict=True):
            # An index entry left by a racing move is not the room's sensor.
            if (found["building"], found["room"]) != (building, room) or not found["count"]:
                continue
            count += found["count"]
            total += found["sum"]
            contributing.append(sensor)
        return {"count": count, "avg": total / count if count else None, "sensors": contributing}


__all__ = ["BatchError", "RoomConflict", "RoomStore", "default_sensor"]
