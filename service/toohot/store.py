"""Too hot or not: ingest of thermometer readings and the precomputed answer.

Ingest resolves every reading (site, org, unit, local day) before writing
anything, then writes in two idempotent steps. First the readings store
(``POST /data``'s dedup and statistics), whose dedup decides which value of
an instant wins: it answers, for each duplicate, the value stored first.
Then ``day.lua`` for every (site, local day), many per call, which checks
each site's org and keeps its own dedup memory, with the winning values
only: a racing post of other values for the same instants cannot put a
losing value in a day's maximum or its site.too_hot event. The two steps
cannot share a script (reading keys are tagged by sensor, day keys by
site); a client retrying a batch that failed between them finds
duplicates whose winning values are answered again, so the days catch up
with the readings store and nothing is counted twice. Layout: ``service.keys``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from redis.cluster import RedisCluster

from .. import keys, timeutil, units
from ..events.store import EventStore
from ..orgs.store import DEFAULT_THRESHOLD, DEFAULT_TIMEZONE, DEFAULT_UNIT, OrgStore, effective
from ..orgs.store import FIELDS as ORG_FIELDS
from ..readings.store import ReadingStore
from ..redisdb.roundtrips import HotScript
from ..redisdb.scripts import ScriptBatch, Scripts
from ..redisdb.slots import slot_groups
from ..sensors.store import SensorRegistry
from ..settings import Settings
from ..sites.store import SiteStore
from ..timeutil import day_bounds, zone

# Location of a site registered by its first reading (sites need one).
FIRST_SIGHT_LOCATION = "unspecified"
# The widest UTC offsets in use: a local date is one of the UTC dates in between.
EARLIEST_OFFSET_US = 12 * 3600 * 1_000_000
LATEST_OFFSET_US = 14 * 3600 * 1_000_000
HOUR_US = 3600 * 1_000_000
TOO_HOT_EVENT = "site.too_hot"
# Refreshes of a site's copy of its org's settings one answer may need.
STALE_COPY_ATTEMPTS = 3
# Readings after which a day.lua call is closed (a day is never split): a
# post's days are applied in calls short enough not to hold Redis for long.
DAY_CALL_READINGS = 1000


class StaleOrgCopy(RuntimeError):
    """The site changed org again while its copy of the org's settings was refreshed."""


class Rejected(Exception):
    """The batch cannot be accepted; nothing of it was written."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def local_date(zone_name: str, us: int) -> date:
    return timeutil.us_to_datetime(us).astimezone(zone(zone_name)).date()


# The last local day looked up per zone: nearly every instant asked about
# (now, a reading) falls in it.
_LAST_DAY: dict[str, tuple[date, int, int]] = {}


def local_day(zone_name: str, us: int) -> tuple[date, int, int]:
    """(local date, first µs, last+1 µs) of the day holding instant ``us`` in the zone."""
    known = _LAST_DAY.get(zone_name)
    if known is not None and known[1] <= us < known[2]:
        return known
    day = local_date(zone_name, us)
    found = _LAST_DAY[zone_name] = (day, *day_bounds(zone_name, day))
    return found


@lru_cache(maxsize=4)
def candidate_days(hour: int) -> tuple[tuple[date, ...], tuple[str, ...]]:
    """Every date that is today somewhere on Earth (UTC-12 to UTC+14) during
    a UTC hour (``now_us // HOUR_US``; the offsets are whole hours, so these
    change on the hour), in order: two, or three around midday UTC; and the
    answer script's ARGV for them."""
    first = timeutil.us_to_datetime(hour * HOUR_US - EARLIEST_OFFSET_US).date()
    last = timeutil.us_to_datetime(hour * HOUR_US + LATEST_OFFSET_US).date()
    days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    return days, _answer_args(days)


def _answer_args(days) -> tuple[str, ...]:
    """ARGV of answer.lua for ``days``."""
    return (DEFAULT_TIMEZONE, repr(DEFAULT_THRESHOLD), DEFAULT_UNIT, *(d.isoformat() for d in days))


def too_hot_event_id(site_id: str, date_text: str) -> str:
    return f"{TOO_HOT_EVENT}:{site_id}:{date_text}"


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


@dataclass
class SiteView:
    id: str
    exists: bool
    org: str | None
    timezone: str | None
    threshold: float | None


@dataclass
class Resolution:
    """Validated readings resolved against Redis (``TooHotStore.resolve``)."""

    sites: dict[str, SiteView]
    orgs: dict[str, dict]  # org -> its settings, defaults filled in
    sensor_of: list[str]  # each reading's sensor
    sensor_orgs: dict[str, str | None]  # sensor -> its org, None for none
    celsius: list[float]  # each reading's value in °C
    first_org: dict[str, str]  # org of each site seen for the first time
    invalid: dict[str, dict]  # problems by reading index (impossible values, wrong kind)
    conflicts: dict[str, dict]  # readings naming a site of another org, by index
    # Sensors whose metadata names no kind or no site -> the site of their
    # first reading here (``label_sensors``).
    unlabelled: dict[str, str] = field(default_factory=dict)


class TooHotStore:
    def __init__(self, client, scripts: Scripts, settings: Settings, *, sites: SiteStore, orgs: OrgStore,
                 readings: ReadingStore, events: EventStore, registry: SensorRegistry):
        self.client = client
        self.registry = registry
        self.sites, self.orgs, self.readings, self.events = sites, orgs, readings, events
        self.cluster = isinstance(self.client, RedisCluster)
        self.retention_days = settings.toohot_retention_days
        self.bucket_us = settings.bucket_seconds * 1_000_000
        self._day = scripts.register(__package__, "day.lua")
        self._answer = scripts.register(__package__, "answer.lua")
        # The admin answer is the hot read: concurrent ones share round trips.
        self._hot_answer = HotScript(self.client, self._answer)
        # Seconds since the epoch; replaceable so that tests can live on any day.
        self.clock = time.time

    # -- lookups ----------------------------------------------------------

    def _lookup(self, site_ids, org_ids, sensor_ids) -> tuple[dict, dict, dict, dict, set]:
        """Sites, orgs (defaults filled in), registered sensors' (kind,
        declared unit), every sensor's org (or None) and the sensors whose
        metadata names no kind or no site, in one round trip."""
        site_ids, org_ids, sensor_ids = list(site_ids), list(org_ids), list(sensor_ids)
        pipe = self.client.pipeline(transaction=False)
        for site_id in site_ids:
            pipe.hmget(keys.site(site_id), "id", "org", "timezone", "threshold")
        for org_id in org_ids:
            pipe.hmget(keys.org(org_id), *ORG_FIELDS)
        for sensor in sensor_ids:
            pipe.hmget(keys.sensor_meta(sensor), "kind", "unit", keys.SENSOR_ORG_FIELD, keys.SensorMeta.SITE)
        replies = pipe.execute()
        sites = {}
        for site_id, (found, org, zone_name, threshold) in zip(site_ids, replies, strict=False):
            sites[site_id] = SiteView(
                site_id, found is not None, _text(org), _text(zone_name),
                float(threshold) if threshold is not None else None,
            )
        replies = replies[len(site_ids):]
        orgs = {org_id: effective(org_id, raw) for org_id, raw in zip(org_ids, replies, strict=False)}
        replies = replies[len(org_ids):]
        sensors, sensor_orgs, unlabelled = {}, {}, set()
        for sensor, (kind, unit, org, site) in zip(sensor_ids, replies, strict=True):
            if kind is not None:
                sensors[sensor] = (kind.decode(), _text(unit))
            if kind is None or site is None:
                unlabelled.add(sensor)
            sensor_orgs[sensor] = _text(org)
        return sites, orgs, sensors, sensor_orgs, unlabelled

    # -- ingest -----------------------------------------------------------

    def resolve(self, items: list[dict]) -> Resolution:
        """Lookups, unit conversion and checks of validated items, nothing
        written: what ``ingest`` needs, and what the caller checks first
        (the sensors' orgs, the problems of each item)."""
        sensor_of = [item.get("sensorId") or item["siteId"] for item in items]
        sites, orgs, sensors, sensor_orgs, unlabelled = self._lookup(
            dict.fromkeys(item["siteId"] for item in items),
            dict.fromkeys(item["orgId"] for item in items),
            dict.fromkeys(sensor_of),
        )
        conflicts, invalid = {}, {}
        first_org: dict[str, str] = {}
        celsius: list[float] = []
        for index, item in enumerate(items):
            site = sites[item["siteId"]]
            owner = site.org if site.exists else first_org.setdefault(site.id, item["orgId"])
            if owner != item["orgId"]:
                # One message whatever org holds the site (or none): it names
                # only what the reading sent, nothing of the site's owner.
                conflicts[str(index)] = {"orgId": [
                    f"The site {site.id!r} is not a site of org {item['orgId']!r}."
                ]}
            kind, declared = sensors.get(sensor_of[index], (None, None))
            if kind is not None and kind != "temperature":
                invalid[str(index)] = {"sensorId": [f"The sensor {sensor_of[index]!r} measures {kind}, not temperature."]}
                celsius.append(0.0)
                continue
            unit = item.get("unit") or declared or orgs[item["orgId"]]["unit"]
            value = units.to_canonical(float(item["temperature"]), unit)
            problem = units.bounds_error(value, "temperature")
            if problem:
                invalid[str(index)] = {"temperature": [problem]}
            celsius.append(value)
        first_site = {}
        for index, item in enumerate(items):
            if sensor_of[index] in unlabelled:
                first_site.setdefault(sensor_of[index], item["siteId"])
        return Resolution(sites, orgs, sensor_of, sensor_orgs, celsius, first_org, invalid, conflicts, first_site)

    def ingest(self, items: list[dict], resolution: Resolution, now: float | None = None) -> dict:
        """Store validated readings (``siteId``, ``orgId``, ``temperature``,
        ``timestamp`` in us, optional ``unit`` and ``sensorId``) as
        ``resolve`` resolved them; the caller refused any invalid one.

        Raises Rejected (409 cross-org) before anything is written; only
        a concurrent change of a site's org, found by ``day.lua`` after the
        readings store was written, raises it later.
        """
        if resolution.invalid:
            raise ValueError("resolve() found invalid readings; refuse them before ingest()")
        now = self.clock() if now is None else now
        self.refuse_conflicts(items, resolution)
        registered = [site_id for site_id, site in resolution.sites.items() if not site.exists]
        for site_id in registered:
            self._register(site_id, resolution.first_org[site_id])
        # The readings store first: its dedup decides which value of each
        # instant wins, and the days get only the winners (see the module).
        values = [repr(value) for value in resolution.celsius]
        groups, order = self._reading_groups(items, resolution, values)
        accepted, winners = self.readings.ingest_with_winners(groups, now=now)
        for sensor, duplicates in winners.items():
            sent = [index for indexes in order[sensor].values() for index in indexes]
            for position, stored in duplicates:
                values[sent[position - 1]] = stored
        days, expired = self._days(items, resolution, values, now)
        too_hot = self._apply_days(days)
        self._publish_too_hot(too_hot)
        self.label_sensors(resolution)
        answer = {"accepted": accepted, "duplicates": len(items) - accepted, "sitesRegistered": registered}
        if expired:
            # Stored as their sensors' readings, but their day can no longer be asked about.
            answer["expired"] = expired
        return answer

    @staticmethod
    def refuse_conflicts(items: list[dict], resolution: Resolution, indexes: list[int] | None = None,
                         total: int | None = None) -> None:
        """Rejected (409) when readings name a site their org cannot write
        to (``Resolution.conflicts``); nothing was written. ``indexes``: each
        item's index in the post, and ``total`` its readings, when the post
        held items that did not load."""
        if resolution.conflicts:
            listed = {str(indexes[int(position)] if indexes else position): problem
                      for position, problem in resolution.conflicts.items()}
            raise Rejected(409, f"{len(listed)} of {total or len(items)} readings name a site their org cannot write to; "
                           "nothing was written.", {"json": dict(sorted(listed.items(), key=lambda kv: int(kv[0])))})

    @staticmethod
    def refuse_sites(items: list[dict], resolution: Resolution, site_ids) -> None:
        """Mark the readings of ``site_ids`` (sites seen for the first time
        whose id is a sensor's their org cannot have) as conflicts."""
        for index, item in enumerate(items):
            if item["siteId"] in site_ids:
                resolution.conflicts.setdefault(str(index), {"siteId": [
                    f"The site {item['siteId']!r} cannot be registered for org {item['orgId']!r}: its id is a "
                    "sensor's that org cannot write to, and a site's readings without sensorId go to the sensor "
                    "of its id. Choose another site id."]})

    def label_sensors(self, resolution: Resolution) -> None:
        """Give each sensor first heard here whatever its metadata lacks of
        kind (temperature), site (its reading's), and the unit its readings
        arrive in (its org's): the sensor overview and the registry then
        show it under its site, in its unit. The registry sets only what is
        missing, so a registration always wins; a sensor's org (its owner)
        is left alone. A sensor of another org than the site's (an all-orgs
        key may send its readings there) is a thermometer, but not of that
        site, nor in that org's unit."""
        if not resolution.unlabelled:
            return
        org_of_site = {site_id: site.org if site.exists else resolution.first_org.get(site_id)
                       for site_id, site in resolution.sites.items()}
        labels = {}
        for sensor, site_id in resolution.unlabelled.items():
            owner, site_org = resolution.sensor_orgs.get(sensor), org_of_site.get(site_id)
            if owner and owner != site_org:
                labels[sensor] = {keys.SensorMeta.KIND: "temperature",
                                  keys.SensorMeta.INPUT_UNIT: units.KINDS["temperature"].canonical}
                continue
            org = resolution.orgs.get(site_org or "", {})
            labels[sensor] = {
                keys.SensorMeta.KIND: "temperature",
                keys.SensorMeta.SITE: site_id,
                keys.SensorMeta.INPUT_UNIT: units.input_unit("temperature", None, org.get("unit")),
            }
        self.registry.fill_missing(labels)

    def _register(self, site_id: str, org_id: str) -> None:
        created = self.sites.create({"id": site_id, "name": site_id, "location": FIRST_SIGHT_LOCATION, "org": org_id})
        if created is None:
            # Another request registered it meanwhile: fine if for the same org.
            site = self.sites.get(site_id)
            if site is not None and site["org"] != org_id:
                raise Rejected(409, f"The site {site_id!r} belongs to another org; nothing was written.")
        self.orgs.copy_to_site(site_id, org_id)

    def _days(self, items, resolution: Resolution, values: list[str], now) -> tuple[dict, int]:
        """(site, local date) -> [org, ttl, threshold in force, then sensor,
        offset, value per reading]; ``values``: each reading's °C text. And
        how many readings are of a day beyond TOOHOT_RETENTION_DAYS (in none)."""
        days: dict[tuple[str, date], list] = {}
        expired = 0
        sensor_of = resolution.sensor_of
        for index, item in enumerate(items):
            site = resolution.sites[item["siteId"]]
            org = resolution.orgs[item["orgId"]]
            zone_name = site.timezone or org["timezone"] or DEFAULT_TIMEZONE
            us = item["timestamp"]
            day, start, end = local_day(zone_name, us)
            ttl = int(end / 1_000_000 + self.retention_days * 86_400 - now)
            if ttl <= 0:
                expired += 1  # beyond retention: kept by the readings store only
                continue
            args = days.get((site.id, day))
            if args is None:
                threshold = site.threshold if site.threshold is not None else org["threshold"]
                args = days[(site.id, day)] = [item["orgId"], ttl, repr(threshold)]
            args += (sensor_of[index], us - start, values[index])
        return days, expired

    def _day_calls(self, days: dict) -> list[list[tuple[str, date]]]:
        """The (site, day) pairs of each day.lua call: one hash slot per call
        on a cluster, any pairs on a single Redis; a call is closed once it
        holds DAY_CALL_READINGS readings."""
        return slot_groups(days, lambda pair: keys.site(pair[0]), self.cluster,
                           lambda pair: (len(days[pair]) - 3) // 3, DAY_CALL_READINGS)

    def _apply_days(self, days: dict) -> list[tuple[str, str, date, int, list]]:
        """Run day.lua for every (site, day): per day its org check, dedup,
        summary and outbox, many days per call. Returns the days whose
        too-hot event awaits publication: (site, org, day, ttl, [hot max,
        threshold])."""
        calls = self._day_calls(days)
        batch = ScriptBatch(self.client)
        for pairs in calls:
            call_keys, call_args = [], []
            for site_id, day in pairs:
                org, ttl, threshold, *readings = days[(site_id, day)]
                call_keys += (keys.site(site_id), keys.site_day(site_id, day.isoformat()))
                call_args += (org, ttl, threshold, len(readings) // 3, *readings)
            batch.script(self._day, call_keys, call_args)
        too_hot = []
        for pairs, results in zip(calls, batch.execute(), strict=True):
            for (site_id, day), result in zip(pairs, results, strict=True):
                if isinstance(result, int):
                    # Only a concurrent change of the site's org gets here.
                    raise Rejected(409, f"The site {site_id!r} belongs to another org.")
                if len(result) == 3:
                    args = days[(site_id, day)]
                    too_hot.append((site_id, args[0], day, args[1], result[1:]))
        return too_hot

    def _reading_groups(self, items, resolution: Resolution, values: list[str]) -> tuple[dict, dict]:
        """The readings store's grouping: sensor -> [latest us, its ISO text,
        its value, {bucket: [offset, value, ...]}]; and the readings' indexes
        in the same order: sensor -> {bucket: [index, ...]}."""
        groups: dict[str, list] = {}
        order: dict[str, dict[int, list[int]]] = {}
        sensor_of = resolution.sensor_of
        for index, item in enumerate(items):
            us = item["timestamp"]
            text = values[index]
            sensor = sensor_of[index]
            group = groups.get(sensor)
            if group is None:
                group = groups[sensor] = [us, None, text, {}]
                order[sensor] = {}
            elif us > group[0]:
                group[0], group[2] = us, text
            bucket, offset = divmod(us, self.bucket_us)
            group[3].setdefault(bucket, []).extend((offset, text))
            order[sensor].setdefault(bucket, []).append(index)
        for group in groups.values():
            group[1] = timeutil.us_to_iso(group[0])
        return groups, order

    # -- too-hot events ---------------------------------------------------

    def _publish_too_hot(self, pending: list[tuple[str, str, date, int, list]]) -> None:
        """Publish each day's site.too_hot event, then mark it published.

        The event id names the site and the day, so publishing again after
        a crash between the two steps appends nothing.
        """
        if not pending:
            return
        events = self.events
        pipe = self.client.pipeline(transaction=False)
        for site_id, org_id, day, ttl, (hot_max, hot_threshold) in pending:
            date_text = day.isoformat()
            events.publish(
                TOO_HOT_EVENT, site_id, org=org_id, event_id=too_hot_event_id(site_id, date_text),
                data={"site": site_id, "date": date_text,
                      "maxTemperature": float(hot_max), "threshold": float(hot_threshold)},
            )
            day_key = keys.site_day(site_id, date_text)
            pipe.hset(day_key, "hot_published", 1)
            pipe.expire(day_key, ttl)
        pipe.execute()

    # -- the answer -------------------------------------------------------

    def answer(self, site_id: str, day: date | None = None) -> dict | None:
        """The site's settings and the state of ``day`` (default: its today),
        in one script call; None for an unknown site.

        Keys: ``org``, ``timezone``, ``threshold`` (°C), ``unit`` (the org's),
        ``date``, ``in_retention``, ``readings``, ``max`` (°C or None),
        ``max_at`` (ISO in the zone or None), ``minutes_above``.
        """
        now_us = round(self.clock() * 1_000_000)
        if day is None:
            days, args = candidate_days(now_us // HOUR_US)
        else:
            days = (day,)
            args = _answer_args(days)
        site_key = keys.site(site_id)
        reply = self._hot_answer([site_key], args)
        refreshes = 0
        while reply is not None and len(reply) == 1:
            # The site's copy of its org's settings is missing or of another
            # org (its org changes concurrently if this repeats).
            if refreshes == STALE_COPY_ATTEMPTS:
                raise StaleOrgCopy(site_id)
            refreshes += 1
            self.orgs.copy_to_site(site_id, reply[0].decode())
            reply = self._hot_answer([site_key], args)
        if reply is None:
            return None
        return self._interpret(reply, now_us, days, day)

    def _interpret(self, reply: list, now_us: int, days: list[date], day: date | None) -> dict:
        """The answer script's reply as the dict ``answer()`` returns."""
        org_id, zone_name, threshold, unit = (value.decode() for value in reply[:4])
        today, start, _ = local_day(zone_name, now_us)
        if day is None:
            day = today
            index = 4 + 4 * (today - days[0]).days
        else:
            index = 4
        readings, max_value, max_at, minutes_above = reply[index : index + 4]
        answer = {
            "org": org_id or None,
            "timezone": zone_name,
            "threshold": float(threshold),
            "unit": unit,
            "date": day,
            "in_retention": today - timedelta(days=self.retention_days) <= day <= today,
            "readings": 0,
            "max": None,
            "max_at": None,
            "minutes_above": 0,
        }
        if readings:
            if day != today:
                start, _ = day_bounds(zone_name, day)
            answer["readings"] = int(readings)
            answer["max"] = float(max_value)
            answer["max_at"] = timeutil.us_to_datetime(start + int(max_at)).astimezone(zone(zone_name)).isoformat()
            answer["minutes_above"] = minutes_above
        return answer

    def too_hot_today(self, site_ids, now: float | None = None) -> dict[str, bool]:
        """tooHot of today's answer (each site's local day) for many sites
        (``today``'s flags). An unknown site is not too hot."""
        return {site_id: found["too_hot"] for site_id, found in self.today(site_ids, now).items()}

    def today(self, site_ids, now: float | None = None) -> dict[str, dict]:
        """Each site's ``too_hot`` (tooHot of today's answer, the site's
        local day) and ``org`` (None for an unknown site, which is not too
        hot): the answer script of every site in one pipelined round trip (a
        site whose org copy needs refreshing takes the single-site path)."""
        site_ids = list(dict.fromkeys(site_ids))
        now_us = round((self.clock() if now is None else now) * 1_000_000)
        days, args = candidate_days(now_us // HOUR_US)
        batch = ScriptBatch(self.client)
        for site_id in site_ids:
            batch.script(self._answer, [keys.site(site_id)], args)
        found_all = {}
        for site_id, reply in zip(site_ids, batch.execute(), strict=True):
            if reply is not None and len(reply) == 1:
                found = self.answer(site_id)
            else:
                found = None if reply is None else self._interpret(reply, now_us, days, None)
            found_all[site_id] = {
                "too_hot": bool(found and found["max"] is not None and found["max"] > found["threshold"]),
                "org": found["org"] if found else None,
            }
        return found_all
