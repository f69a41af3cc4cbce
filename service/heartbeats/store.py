"""Heartbeats, per-sensor status and the sensor overview (layout: ``service.keys``).

A sensor is heard of by a heartbeat or by any reading; both update
``sensors:seen``. Transitions between online and offline are claimed by
``status.lua`` (one sensor, one script, exactly once) into the sensor's
outbox, then published to the event stream by whoever claimed them or,
after a crash, by the next check of that sensor.
"""

from __future__ import annotations

import threading
import time

import orjson
from cachetools import TTLCache
from redis.exceptions import ResponseError

from .. import keys, units
from ..events.store import EventStore
from ..redisdb.scripts import ScriptBatch, Scripts
from ..settings import Settings
from ..timeutil import iso_now

META_FIELDS = ("org", "site", "building", "room", "name", "kind", "unit")
# How long the ranking a listing's first page computed serves its next
# pages in this process: ranking reads every sensor id (O(fleet)), a page
# only its own sensors.
RANKING_REUSE_SECONDS = 5.0
# How far before its cursor the changes feed looks again: a sensors:seen
# write that lands a little after the moment it records, or a score of
# whole seconds, is still answered (the answers repeat rather than miss).
CHANGES_OVERLAP_SECONDS = 2.0
# An org's feed behind many changes of every org reads the ids of the
# changed sensors while they are at most this many times its sensors, else
# its sensors' scores (``HeartbeatStore._org_changes``).
RANGE_READ_PER_INDEX_READ = 2


def _text(value) -> str | None:
    return value.decode() if value is not None else None


def status_keys(sensor_id: str) -> list[str]:
    """KEYS of ``status.lua`` for one sensor: liveness hash, outbox, metadata."""
    return [keys.sensor_heartbeat(sensor_id), keys.sensor_outbox(sensor_id), keys.sensor_meta(sensor_id)]


class HeartbeatStore:
    def __init__(self, client, scripts: Scripts, settings: Settings, *, events: EventStore):
        self.client = client
        self.events = events
        self.offline_after = settings.offline_after
        self._status = scripts.register(__package__, "status.lua")
        self._adopt = scripts.register(__package__, "adopt.lua")
        self._retire = scripts.register(__package__, "retire.lua")
        self._unseen = scripts.register(__package__, "unseen.lua")
        self._rankings: TTLCache = TTLCache(maxsize=256, ttl=RANKING_REUSE_SECONDS)
        # cachetools' caches are not thread-safe (gthread workers).
        self._rankings_lock = threading.Lock()

    # -- heartbeats --------------------------------------------------------

    def heartbeat(self, mac: str, now: float | None = None, sensor_id: str | None = None) -> dict:
        """Record a heartbeat of the sensor with this (normalised) MAC
        (``sensor_id``: the sensor it is for, by default the MAC itself)."""
        now = time.time() if now is None else now
        sensor_id = mac if sensor_id is None else sensor_id
        # sensors:seen first: if the process dies before the script, the
        # sensor is still indexed, so offline detection cannot miss it.
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(keys.SENSORS_SEEN, {sensor_id: now})
        pipe.zadd(keys.SENSOR_IDS, {sensor_id: 0}, nx=True)
        pipe.execute()
        outbox = self._status(
            keys=status_keys(sensor_id),
            args=[sensor_id, "", now - self.offline_after, f"{now:.6f}", iso_now(now), mac],
        )
        if outbox:
            self.events.publish_outbox(sensor_id, outbox, now)
        return {"sensor": sensor_id, "mac_address": mac, "status": "online", "last_heartbeat": iso_now(now)}

    # -- a MAC address registered to a sensor --------------------------------

    def adopt_mac(self, mac: str, sensor_id: str, now: float | None = None) -> tuple[bool, list[dict]]:
        """Move the liveness heard under the id ``mac`` (heartbeats of the
        MAC before it was registered) to ``sensor_id``, the sensor it is
        registered to: its last heard (``sensors:seen``), last heartbeat and
        status, each keeping the later, then publish the sensor's due
        transitions. The MAC id then stops being a sensor for liveness (not
        listed, no events), unless it holds readings: those are its data, so
        it stays a sensor of its own, heard by its readings (its heartbeats
        moved). Returns (whether the MAC id was retired, the events published).

        The two ids' keys are in different slots (no one script spans them),
        so it copies first and retires after: a step that dies leaves the
        heartbeat in both places, never in none, and running it again is
        harmless (copies keep the later; a MAC id with nothing heard is left
        alone). A heartbeat landing on the MAC id in between (one that
        looked the MAC up before its registration) keeps it from being
        retired; the next adoption, by the offline check, moves it.
        """
        if mac == sensor_id:
            return False, []
        now = time.time() if now is None else now
        mac_hb = keys.sensor_heartbeat(mac)
        pipe = self.client.pipeline(transaction=False)
        pipe.zscore(keys.SENSORS_SEEN, mac)
        pipe.hmget(mac_hb, keys.SensorHeartbeat.STATUS, keys.SensorHeartbeat.SINCE, keys.SensorHeartbeat.HEARD_AT,
                   keys.SensorHeartbeat.LAST_HB)
        pipe.hget(keys.sensor(mac), keys.SensorStats.COUNT)
        pipe.lrange(keys.sensor_outbox(mac), 0, -1)
        seen, (status, since, heard_at, last_hb), count, outbox = pipe.execute()
        if outbox:
            # Transitions the MAC id already claimed are facts: published, not dropped.
            self.events.publish_outbox(mac, outbox, now)
        holds_readings = bool(count and int(count))
        # A MAC id holding readings keeps its last heard (readings count
        # there); the sensor gets its heartbeats only.
        heard = (float(last_hb) if last_hb else None) if holds_readings else seen
        if heard is None and not last_hb:
            return False, []
        # 1. Copy to the sensor, keeping the later of each.
        pipe = self.client.pipeline(transaction=False)
        if heard is not None:
            pipe.zadd(keys.SENSORS_SEEN, {sensor_id: heard}, gt=True)
            pipe.zadd(keys.SENSOR_IDS, {sensor_id: 0}, nx=True)
        pipe.execute()
        copied_status = not holds_readings and status is not None
        took_status = self._adopt(keys=[keys.sensor_heartbeat(sensor_id)], args=[
            _text(last_hb) or "", mac, _text(status) if copied_status else "",
            _text(since) or "" if copied_status else "", _text(heard_at) or "" if copied_status else ""])
        if took_status and status == b"offline" and heard_at:
            # Offline without an event of its own: on the back-online watch
            # list as if it had one, so a reading brings it back.
            self.client.zadd(keys.EVENTS_OFFLINE, {sensor_id: float(heard_at)})
        published = self._claim({sensor_id: self.client.zscore(keys.SENSORS_SEEN, sensor_id)}, now)
        # 2. Retire the MAC id's liveness (only what was copied).
        state, org = self._retire(keys=[mac_hb, keys.sensor_meta(mac), keys.sensor(mac)], args=[_text(last_hb) or ""])
        if int(state) != 2:
            return False, published
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(keys.EVENTS_OFFLINE, mac)
        if org:
            pipe.srem(keys.sensors_by("org", org.decode()), mac)
        pipe.execute()
        if seen is not None:
            self._unseen(keys=[keys.SENSORS_SEEN], args=[mac, repr(seen)])
        return True, published

    def _holding_readings(self, sensor_ids: list[str]) -> set[str]:
        """Those of ``sensor_ids`` that hold readings (one round trip)."""
        if not sensor_ids:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for sensor_id in sensor_ids:
            pipe.hget(keys.sensor(sensor_id), keys.SensorStats.COUNT)
        return {sensor_id for sensor_id, count in zip(sensor_ids, pipe.execute(), strict=True)
                if count and int(count)}

    # -- transitions -------------------------------------------------------

    def check(self, heard: dict[str, float | None], now: float) -> list[dict]:
        """Claim due transitions of these sensors (id -> last heard per
        sensors:seen) and publish every pending one; returns the events
        published by this call. A MAC id registered to another sensor is
        adopted by it (``adopt_mac``) instead: it is no sensor of its own
        unless it holds readings."""
        if not heard:
            return []
        owners = self.client.hmget(keys.SENSORS_BY_MAC, list(heard))
        heard, published = dict(heard), []
        for sensor_id, raw_owner in zip(list(heard), owners, strict=True):
            owner = _text(raw_owner)
            if owner and owner != sensor_id:
                retired, by_owner = self.adopt_mac(sensor_id, owner, now)
                published += by_owner
                if retired:
                    del heard[sensor_id]
        return published + self._claim(heard, now)

    def _claim(self, heard: dict[str, float | None], now: float) -> list[dict]:
        """``check`` of sensors taken as they are (no MAC id adopted)."""
        if not heard:
            return []
        cutoff = now - self.offline_after
        calls = [
            (status_keys(sensor_id), [sensor_id, "" if seen is None else repr(seen), repr(cutoff),
                                      f"{now:.6f}", iso_now(now), ""])
            for sensor_id, seen in heard.items()
        ]
        batch = ScriptBatch(self.client)
        for call_keys, args in calls:
            batch.script(self._status, call_keys, args)
        results = batch.execute()
        published = []
        for sensor_id, outbox in zip(heard, results, strict=True):
            if outbox:
                published += self.events.publish_outbox(sensor_id, outbox, now)
        return published

    # -- status of sensors ---------------------------------------------------
    #
    # One definition of a sensor's status, shared by GET /sensors (overview)
    # and the registry (GET /v1/sensors): a caller queues queue_liveness() in
    # its own per-sensor pipeline (one round trip per page) and turns the
    # reply into fields with liveness().

    def status_at(self, heard: float | None, now: float) -> str:
        """online, or offline when nothing was heard for OFFLINE_AFTER
        seconds (never heard counts as silent)."""
        return "online" if heard is not None and now - heard < self.offline_after else "offline"

    @staticmethod
    def queue_liveness(pipe, sensor_id: str) -> None:
        """Queue the one read liveness() needs (a single-key command)."""
        pipe.hmget(keys.sensor_heartbeat(sensor_id), "last_hb", "mac")

    def liveness(self, heard: float | None, reply, now: float) -> dict:
        """status, last_heard, last_heartbeat and mac_address from the
        sensor's sensors:seen score and the reply of queue_liveness()."""
        last_hb, mac = reply
        return {
            "status": self.status_at(heard, now),
            "last_heard": iso_now(heard) if heard is not None else None,
            "last_heartbeat": iso_now(float(last_hb)) if last_hb else None,
            "mac_address": _text(mac),
        }

    @staticmethod
    def last_reading(count, last_iso, last_value, unit: str | None) -> dict | None:
        """The latest reading from the statistics hash (count, last_iso,
        last_value as read) in ``unit`` (None: as stored), or None."""
        if not (count and last_iso and last_value):
            return None
        value = float(last_value)
        return {"at": last_iso.decode(), "value": units.shown(value, unit), "unit": unit}

    # -- overview ----------------------------------------------------------

    def overview(self, offset: int = 0, limit: int = 1000, now: float | None = None,
                 org: str | None = None, unit: str | None = None) -> tuple[list[dict], int]:
        """Every sensor heard of or registered, most recently heard first
        (the never heard last, in id order), with status (online, offline,
        never_heard), last heartbeat, last reading (in ``unit`` where it
        applies to the sensor's kind, else in the sensor's own unit), whether
        that reading is stale, and registry metadata; returns (sensors,
        total). With ``org``, only that org's sensors.

        A device is one sensor: the id a MAC address was heard by before it
        was registered to a sensor (``sensors:mac``) is folded into that
        sensor (its latest heard time counts).
        """
        now = time.time() if now is None else now
        ranked = self._ranking(org, fresh=offset == 0)
        total = len(ranked)
        return self.describe(ranked[offset : offset + limit], now, unit), total

    def describe(self, seen: list[tuple[str, float | None]], now: float, unit: str | None = None) -> list[dict]:
        """The overview's item of each (id, last heard or None) in ``seen``,
        in that order (one round trip)."""
        if not seen:
            return []
        pipe = self.client.pipeline(transaction=False)
        for sensor_id, _ in seen:
            self.queue_liveness(pipe, sensor_id)
            pipe.hmget(keys.sensor(sensor_id), "count", "last_iso", "last_value", "last_us")
            pipe.hgetall(keys.sensor_meta(sensor_id))
        replies = pipe.execute(raise_on_error=False)
        sensors = []
        for index, (sensor_id, heard) in enumerate(seen):
            hb, stats, meta = replies[3 * index : 3 * index + 3]
            for reply in (hb, stats):
                if isinstance(reply, Exception):
                    raise reply
            if isinstance(meta, ResponseError):
                # The registry may keep metadata as a JSON string instead of a hash.
                meta = self._meta_document(sensor_id)
            elif isinstance(meta, Exception):
                raise meta
            meta = {_text(k) if isinstance(k, bytes) else k: _text(v) if isinstance(v, bytes) else v for k, v in meta.items()}
            meta = {name: value for name, value in meta.items() if isinstance(value, str) and value}
            sensor = {"id": sensor_id, **self.liveness(heard, hb, now)}
            if heard is None:
                sensor["status"] = "never_heard"
            sensor["mac_address"] = sensor["mac_address"] or meta.get("mac_address") or meta.get("mac")
            shown_in = unit if unit and units.KIND_OF_UNIT.get(unit) == meta.get("kind") else units.own_unit(meta)
            sensor["last_reading"] = self.last_reading(*stats[:3], shown_in)
            # Stale: the reading's own instant (not its arrival) is older than
            # the sensor's reading interval, else OFFLINE_AFTER.
            expected = float(meta.get(keys.SensorMeta.READING_INTERVAL) or self.offline_after)
            sensor["stale"] = bool(sensor["last_reading"] and stats[3] and now - int(stats[3]) / 1_000_000 >= expected)
            for name in META_FIELDS:
                sensor[name] = meta.get(name)
            sensors.append(sensor)
        return sensors

    # -- changes -----------------------------------------------------------

    def fleet_count(self, org: str | None = None) -> int:
        """A count that changes when a sensor is registered or first heard
        of (of ``org``: its registry index), O(1): sensors registered plus
        ids heard of, devices not folded (not the listing's total)."""
        if org is not None:
            return int(self.client.scard(keys.sensors_by("org", org)))
        pipe = self.client.pipeline(transaction=False)
        pipe.scard(keys.SENSORS_REGISTERED)
        pipe.zcard(keys.SENSORS_SEEN)
        return sum(int(n) for n in pipe.execute())

    def changes(self, since: float, now: float, limit: int, org: str | None = None,
                unit: str | None = None) -> tuple[list[dict], float, bool]:
        """The overview's items of the sensors that changed since ``since``
        (server seconds): those heard since (``sensors:seen``, whose score
        only grows) and those whose status turned offline since (heard
        OFFLINE_AFTER before a moment between ``since`` and ``now``), both
        with an overlap of CHANGES_OVERLAP_SECONDS before ``since`` (a write
        a little late, or a score of whole seconds, is not missed). The
        whole fleet's: two ZRANGEBYSCOREs of at most ``limit`` + 1 each,
        O(log N + changes); one org's: see ``_org_changes``.

        Returns (sensors, cursor, complete): ``cursor`` is the latest
        change answered (``since`` when none), so an idle feed asked again
        with it answers the same; ``complete`` is False, with no sensors,
        when more than ``limit`` changed (the caller lists everything again).
        With ``org``, only that org's sensors (``_org_changes``): the
        others' changes move neither the cursor nor the count against
        ``limit``. A MAC-address id registered to a sensor is answered as
        that sensor, as the overview folds it (unless it holds readings).
        """
        low = since - CHANGES_OVERLAP_SECONDS
        # Turned offline: heard OFFLINE_AFTER before a moment in [low, now].
        ranges = ((low, "+inf"), (low - self.offline_after, now - self.offline_after))
        if org is None:
            pipe = self.client.pipeline(transaction=False)
            for range_low, range_high in ranges:
                pipe.zrangebyscore(keys.SENSORS_SEEN, range_low, range_high, start=0, num=limit + 1,
                                   withscores=True)
            heard_since, turned = ([(raw_id.decode(), score) for raw_id, score in found] for found in pipe.execute())
        else:
            heard_since, turned = self._org_changes(org, ranges, limit)
        if len(heard_since) > limit or len(turned) > limit:
            return [], since, False
        if not heard_since and not turned:
            return [], since, True
        # A sensor changed when heard, or OFFLINE_AFTER after it was last heard.
        changed_at = {sensor_id: score + self.offline_after for sensor_id, score in turned}
        for sensor_id, score in heard_since:
            changed_at[sensor_id] = max(score, changed_at.get(sensor_id, score))
        changed = {sensor_id: score for sensor_id, score in turned + heard_since}
        ids = list(changed)
        owners = [_text(raw_owner) for raw_owner in self.client.hmget(keys.SENSORS_BY_MAC, ids)]
        own_sensors = self._holding_readings([sensor_id for sensor_id, owner in zip(ids, owners, strict=True)
                                              if owner and owner != sensor_id])
        aliases: dict[str, list[str]] = {}  # the sensor answered -> the changed ids it stands for
        for sensor_id, owner in zip(ids, owners, strict=True):
            if sensor_id in own_sensors:
                owner = None
            aliases.setdefault(owner if owner and owner != sensor_id else sensor_id, []).append(sensor_id)
        facts = self._heard_and_orgs(list(aliases), registered=True)
        seen, answered = [], []
        for sensor_id, sources in aliases.items():
            score, owner, registered = facts[sensor_id]
            if score is None and not registered:
                # A MAC's owner the overview does not list (neither heard nor
                # registered): it lists the MAC itself, of no org.
                if org is None:
                    seen += [(source, changed[source]) for source in sources]
                    answered += sources
                continue
            if org is not None and owner != org:
                continue
            seen.append((sensor_id, max([changed[source] for source in sources] + [score or 0.0])))
            answered += sources
        # The cursor: the latest change answered (an org's feed moves with its own sensors only).
        cursor = max([since] + [changed_at[source] for source in answered])
        # Most recently heard first, as the overview.
        seen.sort(key=lambda pair: (-pair[1], pair[0]))
        return self.describe(seen, now, unit), cursor, True

    def _org_changes(self, org: str, ranges, limit: int) -> tuple[list, list]:
        """(id, score) of ``changes``' two ranges of ``sensors:seen`` (low,
        high) in score order, of the org's sensors only, as its listing has
        them: members of its registry index (each checked against its
        metadata when more than ``limit`` are found, so a stale entry counts
        towards no limit). What another org's sensors do changes nothing here.

        ``sensors:seen`` holds every org's sensors, so an org's cursor may
        lie behind many changes of the others. The first round trip reads
        what the whole fleet's feed reads (``limit`` + 1 of each range), the
        ranges' sizes and the index's; when a range holds more, the ids are
        read from whichever costs less, the ranges (then which are the
        org's, and their scores) or the org's index (then its sensors'
        scores): O(log N + min(changes of every org since the cursor,
        sensors of the org)).
        """
        index = keys.sensors_by("org", org)
        pipe = self.client.pipeline(transaction=False)
        for low, high in ranges:
            pipe.zcount(keys.SENSORS_SEEN, low, high)
            pipe.zrangebyscore(keys.SENSORS_SEEN, low, high, start=0, num=limit + 1, withscores=True)
        pipe.scard(index)
        heard_count, heard_page, turned_count, turned_page, members = pipe.execute()
        if not members or not (heard_page or turned_page):
            return [], []
        if len(heard_page) <= limit and len(turned_page) <= limit:  # the whole ranges
            heard = dict(heard_page + turned_page)
            ids = [raw_id for raw_id, member in zip(heard, self.client.smismember(index, list(heard)), strict=True)
                   if member]
            scores = [heard[raw_id] for raw_id in ids]
        else:
            # Per id, the ranges' way reads about half what the index's does
            # (an id, then SMISMEMBER; against an id, then ZMSCORE).
            if heard_count + turned_count <= RANGE_READ_PER_INDEX_READ * members:
                pipe = self.client.pipeline(transaction=False)
                for low, high in ranges:
                    pipe.zrangebyscore(keys.SENSORS_SEEN, low, high)
                ids = list(dict.fromkeys(raw_id for in_range in pipe.execute() for raw_id in in_range))
                ids = [raw_id for raw_id, member in zip(ids, self.client.smismember(index, ids), strict=True)
                       if member]
            else:
                ids = list(self.client.smembers(index))
            scores = self.client.zmscore(keys.SENSORS_SEEN, ids) if ids else []
        bounds = [(float(low), float(high)) for low, high in ranges]
        lowest = min(low for low, _ in bounds)
        # Most of an org's sensors were heard before both ranges: one comparison each.
        recent = sorted((score, raw_id) for raw_id, score in zip(ids, scores, strict=True)
                        if score is not None and score >= lowest)
        found = [[(score, raw_id) for score, raw_id in recent if low <= score <= high] for low, high in bounds]
        return [self._verified(org, [(raw_id.decode(), score) for score, raw_id in in_range], limit)
                for in_range in found]

    def _verified(self, org: str, candidates: list[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
        """``candidates`` (members of the org's index), or when there are
        more than ``limit``, those whose metadata is of the org, checked in
        order until more than ``limit`` are (enough to say the feed is not
        complete). Fewer need no check: the caller checks what it answers."""
        if len(candidates) <= limit:
            return candidates
        kept: list[tuple[str, float]] = []
        for start in range(0, len(candidates), limit + 1):
            chunk = candidates[start : start + limit + 1]
            facts = self._heard_and_orgs([sensor_id for sensor_id, _ in chunk])
            kept += [pair for pair in chunk if facts[pair[0]][1] == org]
            if len(kept) > limit:
                break
        return kept

    def _ranking(self, org: str | None, fresh: bool) -> list[tuple[str, float | None]]:
        """``_ranked``, computed afresh for a listing's first page and kept a
        few seconds for the pages that follow it (one ranking per listing,
        and pages of one snapshot); computed again when it is gone."""
        if not fresh:
            with self._rankings_lock:
                kept = self._rankings.get(org)
            if kept is not None:
                return kept
        ranked = self._ranked(org)
        with self._rankings_lock:
            self._rankings[org] = ranked
        return ranked

    def _ranked(self, org: str | None) -> list[tuple[str, float | None]]:
        """(id, last heard or None) of the sensors to list, most recently
        heard first, then the never heard in id order; MAC-address ids
        registered to another sensor folded into it, unless they hold
        readings."""
        if org is None:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrange(keys.SENSORS_SEEN, 0, -1, withscores=True)
            pipe.smembers(keys.SENSORS_REGISTERED)
            pipe.hgetall(keys.SENSORS_BY_MAC)
            raw_seen, registered, by_mac = pipe.execute()
            heard = {raw_id.decode(): score for raw_id, score in raw_seen}
            for raw_id in registered:
                heard.setdefault(raw_id.decode(), None)
        else:
            heard = self._org_sensors(org)
            by_mac = self.client.hgetall(keys.SENSORS_BY_MAC) if heard else {}
        folded = {raw_mac.decode(): raw_owner.decode() for raw_mac, raw_owner in by_mac.items()}
        folded = {mac: owner for mac, owner in folded.items() if mac != owner and mac in heard and owner in heard}
        # A MAC id holding readings is a sensor of its own (its statistics are data).
        for mac in self._holding_readings(list(folded)):
            del folded[mac]
        for mac, owner in folded.items():
            alias = heard.pop(mac)
            if alias is not None and (heard[owner] is None or alias > heard[owner]):
                heard[owner] = alias
        return sorted(heard.items(), key=lambda pair: (pair[1] is None, -(pair[1] or 0), pair[0]))

    def _org_sensors(self, org: str) -> dict[str, float | None]:
        """id -> last heard (None: never) of the org's sensors.

        Candidates come from the registry's org index (which also holds the
        sensors claimed by the org's keys); each is checked against its
        metadata, so a stale index entry never shows another org's sensor.
        Two round trips: the index, then one score and one org per sensor
        (single-key commands, so a cluster pipeline reaches every node).
        """
        members = sorted(m.decode() for m in self.client.smembers(keys.sensors_by("org", org)))
        facts = self._heard_and_orgs(members)
        return {sensor_id: heard for sensor_id, (heard, owner, _) in facts.items() if owner == org}

    def _heard_and_orgs(self, sensor_ids: list[str], registered: bool = False) -> dict:
        """id -> (last heard or None, org or None, registered) of each of
        ``sensor_ids`` (``registered`` asked only when ``registered``, else
        None), one round trip of single-key commands (a cluster pipeline
        reaches every node). Metadata kept as a JSON document is of no org,
        as the registry's org index has it."""
        if not sensor_ids:
            return {}
        per_sensor = 3 if registered else 2
        pipe = self.client.pipeline(transaction=False)
        for sensor_id in sensor_ids:
            pipe.zscore(keys.SENSORS_SEEN, sensor_id)
            pipe.hget(keys.sensor_meta(sensor_id), keys.SENSOR_ORG_FIELD)
            if registered:
                pipe.sismember(keys.SENSORS_REGISTERED, sensor_id)
        replies = pipe.execute(raise_on_error=False)
        facts = {}
        for index, sensor_id in enumerate(sensor_ids):
            heard, owner, *member = replies[per_sensor * index : per_sensor * index + per_sensor]
            for reply in (heard, *member):
                if isinstance(reply, Exception):
                    raise reply
            # An error here is metadata kept as a JSON document (WRONGTYPE).
            org = None if isinstance(owner, Exception) else _text(owner)
            facts[sensor_id] = (heard, org, bool(member[0]) if member else None)
        return facts

    def _meta_document(self, sensor_id: str) -> dict:
        raw = self.client.get(keys.sensor_meta(sensor_id))
        try:
            document = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return {}
        return document if isinstance(document, dict) else {}
