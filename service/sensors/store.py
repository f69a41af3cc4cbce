"""Sensor registry, listings and time-window queries in Redis (layout: ``service.keys``)."""

from __future__ import annotations

import time
from typing import NamedTuple

from .. import exactsum, keys, timeutil, units
from ..heartbeats.store import HeartbeatStore
from ..redisdb.scripts import ScriptBatch, Scripts
from ..settings import Settings

# Metadata fields that have an index set of their own.
INDEXED = ("org", "site", "building", "kind")
META_FIELDS = ("org", "site", "building", "room", "kind", "unit", "mac", "name", "reading_interval")


class MacInUse(Exception):
    def __init__(self, mac: str, owner: str):
        super().__init__(f"MAC address {mac} already belongs to sensor {owner}.")
        self.mac = mac
        self.owner = owner


class KindHasReadings(Exception):
    """A sensor holding readings would change kind (its readings are stored
    in its kind's canonical unit)."""

    def __init__(self, sensor_id: str, kind: str):
        super().__init__(f"Sensor {sensor_id} holds readings of kind {kind}.")
        self.sensor_id = sensor_id
        self.kind = kind


def _text(value: bytes | None) -> str | None:
    return value.decode() if value else None


def index_keys(meta: dict) -> set[str]:
    """The index sets a sensor with this metadata belongs to."""
    found = {keys.sensors_by(field, meta[field]) for field in INDEXED if meta.get(field)}
    if meta.get("building") and meta.get("room"):
        found.add(keys.sensors_in_room(meta["building"], meta["room"], meta.get("org") or None))
    return found


def _sensor_keys(sensor_id: str) -> list[str]:
    """KEYS of ``window.lua`` and ``series.lua`` for one sensor: statistics and metadata."""
    return [keys.sensor(sensor_id), keys.sensor_meta(sensor_id)]


def run_scripts(client, script, calls: list[tuple[list, list]], members_of: str | None = None) -> list:
    """Run one script for many (KEYS, ARGV) in one round trip (NOSCRIPT-safe;
    on a cluster, one round trip per node); with ``members_of`` (a set key,
    or several), SMEMBERS of each rides along as the last replies.
    """
    batch = ScriptBatch(client)
    for call_keys, args in calls:
        batch.script(script, call_keys, args)
    for key in [members_of] if isinstance(members_of, str) else members_of or ():
        batch.pipe.smembers(key)
    return batch.execute()


class SensorSeries(NamedTuple):
    """A sensor's series over a range (``SensorRegistry.series``)."""

    known: bool  # registered or heard of
    kind: str | None
    unit: str | None  # the sensor's own unit (units.own_unit)
    org: str | None
    points: list  # (step start us, count, exact sum (exactsum.total), min, max) of each non-empty step
    gen: str | None = None  # the clear generation its history keys hold (when a tier was read)
    # Parts read as chunk versions (``series_parts``'s ``rendered``): the
    # version of each chunk they overlap, for HistoryStore.rendered_points.
    versions: dict | None = None


def _series_reply(flat: list, step_us: int) -> SensorSeries:
    """series.lua's reply."""
    points = [
        (int(flat[i]) * step_us, int(flat[i + 1]), exactsum.total(flat[i + 2]), float(flat[i + 3]), float(flat[i + 4]))
        for i in range(5, len(flat), 5)
    ]
    meta = {"kind": _text(flat[1]) or None, "unit": _text(flat[2]) or None, "input_unit": _text(flat[3]) or None}
    return SensorSeries(bool(flat[0]), meta["kind"], units.own_unit(meta), _text(flat[4]) or None, points)


class SensorRegistry:
    def __init__(self, client, scripts: Scripts, settings: Settings, *, heartbeats: HeartbeatStore):
        self.client = client
        self.heartbeats = heartbeats
        self.bucket_us = settings.bucket_seconds * 1_000_000
        self._put_meta = scripts.register(__package__, "put_meta.lua")
        self._window = scripts.register(__package__, "window.lua")
        self._series = scripts.register(__package__, "series.lua")

    # -- registry ---------------------------------------------------------

    def metadata(self, sensor_ids: list[str]) -> list[dict]:
        """Metadata of each sensor (empty dict: not registered), one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for sensor in sensor_ids:
            pipe.hgetall(keys.sensor_meta(sensor))
        return [{k.decode(): v.decode() for k, v in found.items()} for found in pipe.execute()]

    def kind(self, sensor_id: str) -> str | None:
        """The sensor's kind, or None (of no kind, or not registered)."""
        return _text(self.client.hget(keys.sensor_meta(sensor_id), keys.SensorMeta.KIND))

    def mac_owner(self, mac: str) -> str | None:
        """The sensor a MAC address is registered to, or None."""
        return _text(self.client.hget(keys.SENSORS_BY_MAC, mac))

    def put(self, sensor_id: str, data: dict) -> tuple[dict, bool]:
        """Replace a sensor's metadata; returns (new metadata, created?).

        Fields left out are cleared. The sensor's input unit is resolved now
        (its unit, else its org's, else its kind's default) so that ingest
        reads only the sensor's own hash. Raises KindHasReadings, nothing
        written, when the kind would change while the sensor holds readings.
        With ``mac``, the liveness heard under the MAC's own id moves to the
        sensor (``HeartbeatStore.adopt_mac``).
        """
        data = {field: data[field] for field in META_FIELDS if data.get(field)}
        if data.get("mac"):
            owner = self.mac_owner(data["mac"])
            if owner and owner != sensor_id:
                raise MacInUse(data["mac"], owner)
        org_unit = _text(self.client.hget(keys.org(data["org"]), "unit")) if data.get("org") else None
        resolved = units.input_unit(data.get("kind"), data.get("unit"), org_unit)
        fields = dict(data)
        if resolved:
            fields["input_unit"] = resolved
        now = timeutil.us_to_iso(timeutil.now_us())
        flat = [now]
        for field, value in fields.items():
            flat += (field, value)
        written, old_flat = self._put_meta(keys=[keys.sensor_meta(sensor_id), keys.sensor(sensor_id)], args=flat)
        if not written:
            raise KindHasReadings(sensor_id, old_flat.decode())
        old = {old_flat[i].decode(): old_flat[i + 1].decode() for i in range(0, len(old_flat), 2)}
        old_sets, new_sets = index_keys(old), index_keys(fields)
        if old.get("org") and old.get("building") and old.get("room"):
            # An entry written before rooms were per org.
            old_sets.add(keys.sensors_in_room(old["building"], old["room"]))
        pipe = self.client.pipeline(transaction=False)
        for key in old_sets - new_sets:
            pipe.srem(key, sensor_id)
        for key in new_sets:
            pipe.sadd(key, sensor_id)
        if old.get("mac") and old["mac"] != fields.get("mac"):
            pipe.hdel(keys.SENSORS_BY_MAC, old["mac"])
            # The MAC's heartbeats heard so far stay the sensor's; from now
            # on they are the MAC id's (or the next sensor's it is registered to).
            pipe.hdel(keys.sensor_heartbeat(sensor_id), keys.SensorHeartbeat.MAC)
        if fields.get("mac"):
            pipe.hset(keys.SENSORS_BY_MAC, fields["mac"], sensor_id)
        pipe.sadd(keys.SENSORS_REGISTERED, sensor_id)
        pipe.zadd(keys.SENSOR_IDS, {sensor_id: 0}, nx=True)
        pipe.execute()
        if fields.get("mac"):
            # After sensors:mac names the sensor, so the MAC's next heartbeat
            # already goes to it; what was heard under the MAC id moves now.
            # Every registration with the MAC does it again (harmless).
            self.heartbeats.adopt_mac(fields["mac"], sensor_id)
        # A sensor claimed by an org key before it was registered already has
        # metadata (its org): created means "not registered before".
        return fields, "registered" not in old

    def fill_missing(self, labels: dict[str, dict[str, str]]) -> None:
        """Give each sensor the metadata fields it lacks (``labels``: sensor
        -> field -> value) and index it by those, in two round trips.

        HSETNX, so a registration always wins; only the fields set here are
        indexed, so a sensor's index sets never disagree with its metadata
        (one registered under another site is not listed under this one)."""
        pipe = self.client.pipeline(transaction=False)
        asked = [(sensor, name, value) for sensor, fields in labels.items() for name, value in fields.items()]
        for sensor, name, value in asked:
            pipe.hsetnx(keys.sensor_meta(sensor), name, value)
        indexed = [(sensor, name, value) for (sensor, name, value), taken in zip(asked, pipe.execute(), strict=True)
                   if taken and name in INDEXED]
        if indexed:
            pipe = self.client.pipeline(transaction=False)
            for sensor, name, value in indexed:
                pipe.sadd(keys.sensors_by(name, value), sensor)
            pipe.execute()

    def refresh_org_unit(self, org_id: str) -> int:
        """Re-resolve the input unit of the org's sensors that declare none.

        The hook for the org settings: call it after an org's ``unit``
        changes. Returns how many sensors changed.
        """
        org_unit = _text(self.client.hget(keys.org(org_id), "unit"))
        members = sorted(m.decode() for m in self.client.smembers(keys.sensors_by("org", org_id)))
        changed = 0
        pipe = self.client.pipeline(transaction=False)
        for sensor, meta in zip(members, self.metadata(members), strict=True):
            if meta.get("org") != org_id or meta.get("unit") or not meta.get("kind"):
                continue
            resolved = units.input_unit(meta["kind"], None, org_unit)
            if resolved != meta.get("input_unit"):
                pipe.hset(keys.sensor_meta(sensor), "input_unit", resolved)
                changed += 1
        pipe.execute()
        return changed

    def describe(self, sensor_ids: list[str], display_unit: str | None = None) -> list[dict | None]:
        """Metadata, statistics, status and last reading of each sensor, one
        round trip (single-key commands only); None for a sensor sensorhub
        knows nothing of. Status comes from the heartbeats store, so it is
        the one GET /sensors shows."""
        heartbeats = self.heartbeats
        pipe = self.client.pipeline(transaction=False)
        for sensor in sensor_ids:
            pipe.hgetall(keys.sensor_meta(sensor))
            pipe.hmget(keys.sensor(sensor), "count", "exact", "sum", "last_iso", "last_value")
            pipe.zscore(keys.SENSORS_SEEN, sensor)
            heartbeats.queue_liveness(pipe, sensor)
        replies = pipe.execute()
        now = time.time()
        described: list[dict | None] = []
        for position, sensor in enumerate(sensor_ids):
            raw_meta, (count, exact, legacy, last_iso, last_value), seen, hb = replies[4 * position : 4 * position + 4]
            meta = {k.decode(): v.decode() for k, v in raw_meta.items()}
            if not meta and count is None and seen is None:
                described.append(None)
                continue
            count = int(count) if count else 0
            unit = units.display_unit(meta.get("kind"), display_unit)
            liveness = heartbeats.liveness(seen, hb, now)
            described.append(
                {
                    "id": sensor,
                    # A sensor claimed by an org key's first write has an
                    # org but was never registered.
                    "registered": "registered" in meta,
                    **{field: meta.get(field) for field in META_FIELDS},
                    "mac": meta.get("mac") or liveness["mac_address"],
                    "input_unit": meta.get("input_unit"),
                    "registered_at": meta.get("registered"),
                    "updated_at": meta.get("updated"),
                    "last_seen": timeutil.us_to_iso(round(seen * 1_000_000)) if seen is not None else None,
                    "status": liveness["status"],
                    "last_heard": liveness["last_heard"],
                    "last_heartbeat": liveness["last_heartbeat"],
                    "last_reading": heartbeats.last_reading(count, last_iso, last_value, unit),
                    "statistics": {
                        "count": count,
                        "avg": units.shown(exactsum.mean(exactsum.total(exact, legacy), count), unit) if count else None,
                        "last_measurement": _text(last_iso) if count else None,
                        "last_value": units.shown(float(last_value), unit) if count and last_value else None,
                        "unit": unit,
                    },
                }
            )
        return described

    def list_page(self, filters: dict, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        """One page of sensors in id order after ``cursor``, with the next cursor.

        Filtered: the intersection of the index sets, each candidate checked
        against its metadata. Unfiltered: every sensor heard of or
        registered, read a page at a time from ``sensors:ids``; until the
        background worker has filled that index for older data
        (``fill_id_index``), from every id at once.
        """
        if filters:
            # Candidates: the intersection of groups of index sets, each group
            # the union of its sets.
            groups = [[keys.sensors_by(field, filters[field])] for field in INDEXED if field in filters]
            # Rooms are per org: a room's index narrows a listing of one org
            # (with the room of no org, where sensors indexed before rooms
            # were per org may be); across orgs, the building's index does
            # (rooms checked below).
            if "room" in filters and "org" in filters:
                building, room = filters["building"], filters["room"]
                groups = [[keys.sensors_in_room(building, room, filters["org"]), keys.sensors_in_room(building, room)]] + [
                    group for group in groups if group != [keys.sensors_by("building", building)]
                ]
            pipe = self.client.pipeline(transaction=False)
            for group in groups:
                for key in group:
                    pipe.smembers(key)
            replies = iter(pipe.execute())
            candidates = set.intersection(
                *({m.decode() for _ in group for m in next(replies)} for group in groups)
            )
        elif self.client.exists(keys.SENSOR_IDS_COMPLETE):
            return self._id_index_page(cursor, limit)
        else:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrange(keys.SENSORS_SEEN, 0, -1)
            pipe.smembers(keys.SENSORS_REGISTERED)
            seen, registered = pipe.execute()
            candidates = {m.decode() for m in seen} | {m.decode() for m in registered}
        ordered = sorted(c for c in candidates if cursor is None or c > cursor)
        page: list[dict] = []
        position = 0
        while position < len(ordered) and len(page) < limit:
            chunk = ordered[position : position + limit - len(page)]
            position += len(chunk)
            for entry in self.describe(chunk):
                if entry is not None and all(entry.get(field) == value for field, value in filters.items()):
                    page.append(entry)
        next_cursor = ordered[position - 1] if position < len(ordered) else None
        return page, next_cursor

    def _id_index_page(self, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        """A page of ``sensors:ids`` after ``cursor``: O(log N + page), not O(N)."""
        low = "-" if cursor is None else "(" + cursor
        found = [m.decode() for m in self.client.zrangebylex(keys.SENSOR_IDS, low, "+", start=0, num=limit + 1)]
        ids, more = found[:limit], len(found) > limit
        page = [entry for entry in self.describe(ids) if entry is not None]
        return page, ids[-1] if more else None

    def fill_id_index(self, step: int = 10_000) -> bool:
        """One step of filling ``sensors:ids`` from ``sensors:seen``, then
        ``sensors:registered`` (data written before the index existed);
        True while steps remain. Resumable (the scan cursor is kept in
        Redis) and idempotent, so any number of workers may run it; once
        done it costs one EXISTS."""
        if self.client.exists(keys.SENSOR_IDS_COMPLETE):
            return False
        state = self.client.hmget(keys.SENSOR_IDS_FILL, "phase", "cursor")
        phase, position = (state[0] or b"seen").decode(), int(state[1] or 0)
        if phase == "seen":
            position, found = self.client.zscan(keys.SENSORS_SEEN, position, count=step)
            ids = [member for member, _ in found]
        else:
            position, ids = self.client.sscan(keys.SENSORS_REGISTERED, position, count=step)
        if ids:
            self.client.zadd(keys.SENSOR_IDS, dict.fromkeys(ids, 0), nx=True)
        if position:
            self.client.hset(keys.SENSOR_IDS_FILL, mapping={"phase": phase, "cursor": position})
        elif phase == "seen":
            self.client.hset(keys.SENSOR_IDS_FILL, mapping={"phase": "registered", "cursor": 0})
        else:
            self.client.set(keys.SENSOR_IDS_COMPLETE, 1)
            self.client.delete(keys.SENSOR_IDS_FILL)
            return False
        return True

    # -- windows ----------------------------------------------------------

    def windows(self, sensor_ids, start_us: int, end_us: int, members_of: str | None = None):
        """Aggregate of each sensor's readings in [start, end), one round trip.

        Each: known, count, sum (exact: ``exactsum.total``), min, max, and the sensor's kind, building,
        room, org. With ``members_of`` (a set key, or several) also reads
        those sets in the same round trip and returns ``(the union of their
        members, aggregates)``; otherwise ``(None, aggregates)``.
        """
        calls = [(_sensor_keys(sensor), [start_us, end_us, self.bucket_us]) for sensor in sensor_ids]
        sets = [members_of] if isinstance(members_of, str) else list(members_of or ())
        replies = run_scripts(self.client, self._window, calls, sets)
        members = set().union(*replies[len(replies) - len(sets):]) if sets else None
        replies = replies[: len(replies) - len(sets)]
        results = []
        for known, count, total, low, high, kind, building, room, org in replies:
            results.append(
                {
                    "known": bool(known),
                    "count": int(count),
                    "sum": exactsum.total(total),
                    "min": float(low) if low else None,
                    "max": float(high) if high else None,
                    "kind": _text(kind),
                    "building": _text(building),
                    "room": _text(room),
                    "org": _text(org),
                }
            )
        return members, results

    def series(self, sensor_id: str, start_us: int, end_us: int, step_us: int) -> SensorSeries:
        """The sensor's readings in [start, end) in steps of ``step_us``."""
        flat = self._series(keys=_sensor_keys(sensor_id), args=[start_us, end_us, self.bucket_us, step_us])
        return _series_reply(flat, step_us)

    def series_many(self, sensor_ids: list[str], start_us: int, end_us: int, step_us: int) -> list[SensorSeries]:
        """``series`` of each sensor, in order, in one round trip (one
        script call per sensor, pipelined; on a cluster each goes to its node)."""
        if not sensor_ids:
            return []
        batch = ScriptBatch(self.client)
        for sensor_id in sensor_ids:
            batch.script(self._series, _sensor_keys(sensor_id), [start_us, end_us, self.bucket_us, step_us])
        return [_series_reply(flat, step_us) for flat in batch.execute()]

    def series_parts(self, sensor_ids: list[str], parts: list, history, rendered: tuple = ()) -> list[SensorSeries]:
        """Each sensor's readings over ``parts`` (``history.query.parts``:
        raw parts by series.lua in their steps, tier parts from ``history``,
        the HistoryStore), in order; points are the steps and tier buckets
        read, in time order, to be merged into output buckets. Of the tier
        parts in ``rendered`` only the chunks' versions are read (their
        points come from ``history.rendered_points``). One round trip for
        every sensor and part, after one for the sensors' clear generations
        when a tier is read (its keys hold the generation)."""
        if not sensor_ids:
            return []
        gens = self._gens(sensor_ids) if any(part.tier for part in parts) else None
        batch = ScriptBatch(self.client)
        raw = [part for part in parts if part.tier is None]
        chunks = []  # per sensor and tier part: how many chunk replies
        for position, sensor_id in enumerate(sensor_ids):
            # series.lua also answers the sensor's metadata: asked with an
            # empty range when no part is raw.
            for part in raw or [None]:
                args = [part.start_us, part.end_us, self.bucket_us, part.step_us] if part else [0, 0, self.bucket_us, 1]
                batch.script(self._series, _sensor_keys(sensor_id), args)
            for part in parts:
                if part.tier is not None:
                    if part in rendered:
                        chunks.append(history.queue_versions(
                            batch, sensor_id, gens[position], part.tier, part.start_us, part.end_us))
                    else:
                        chunks.append(history.queue_buckets(
                            batch.pipe, sensor_id, gens[position], part.tier, part.start_us, part.end_us))
        replies, chunks = iter(batch.execute()), iter(chunks)
        return [self._parts_reply(parts, raw, rendered, history, replies, chunks)._replace(gen=gens and gens[position])
                for position in range(len(sensor_ids))]

    @staticmethod
    def _parts_reply(parts: list, raw: list, rendered: tuple, history, replies, chunks) -> SensorSeries:
        """One sensor's ``series_parts`` from the replies, consumed in the
        order they were queued."""
        read, meta = {}, None
        for part in raw or [None]:
            answer = _series_reply(next(replies), part.step_us if part else 1)
            meta = meta or answer
            if part:
                read[part] = answer.points
        versions = {}
        for part in parts:
            if part.tier is not None:
                replied = [next(replies) for _ in range(next(chunks))]
                if part in rendered:
                    versions[part] = replied[0]
                    continue
                read[part] = [(b.start_us, b.count, b.sum, b.min, b.max)
                              for b in history.buckets(part.tier, part.start_us, part.end_us, replied)]
        return meta._replace(points=[item for part in parts if part in read for item in read[part]],
                             versions=versions)

    def _gens(self, sensor_ids: list[str]) -> list[str]:
        """Each sensor's clear generation (its history keys hold it)."""
        pipe = self.client.pipeline(transaction=False)
        for sensor_id in sensor_ids:
            pipe.hget(keys.sensor(sensor_id), keys.SensorStats.GEN)
        return [(gen or b"0").decode() for gen in pipe.execute()]
