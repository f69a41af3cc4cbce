"""Too hot or not: ingest in the brief's shape and the precomputed answer.

Ingest resolves every reading (site, org, unit, local day) before writing
anything, then writes in two idempotent steps: one ``day.lua`` call per
(site, local day), which checks the site's org and keeps its own dedup
memory, then the readings store (``POST /data``'s dedup and statistics).
A client retrying a batch that failed half-way repairs both: nothing is
counted twice. Layout: ``service.keys``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache

from flask import Flask

from .. import keys, timeutil, units
from ..orgs.store import DEFAULT_TIMEZONE, effective
from ..orgs.store import FIELDS as ORG_FIELDS
from ..redis_client import redis_ext
from ..settings import Settings
from ..sites.schemas import zone_from_name

# Location of a site registered by its first reading (sites need one).
FIRST_SIGHT_LOCATION = "unspecified"
US_PER_DAY = 86_400_000_000


class Rejected(Exception):
    """The batch cannot be accepted; nothing of it was written."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    return zone_from_name(name)


@lru_cache(maxsize=4096)
def day_bounds(zone_name: str, day: date) -> tuple[int, int]:
    """(first, last+1) microsecond of a local day: 23, 24 or 25 hours long."""
    tz = zone(zone_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz)
    return (start - timeutil.EPOCH) // timeutil.ONE_US, (end - timeutil.EPOCH) // timeutil.ONE_US


def local_date(zone_name: str, us: int) -> date:
    return timeutil.us_to_datetime(us).astimezone(zone(zone_name)).date()


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


@dataclass
class SiteView:
    id: str
    exists: bool
    org: str | None
    timezone: str | None
    threshold: float | None


class TooHotStore:
    def __init__(self, app: Flask, settings: Settings):
        self.app = app
        self.client = redis_ext.client_for(app)
        self.retention_days = settings.toohot_retention_days
        self.bucket_us = settings.bucket_seconds * 1_000_000
        self._day = redis_ext.register_script(app, __package__, "day.lua")
        # Seconds since the epoch; replaceable so that tests can live on any day.
        self.clock = time.time

    @property
    def sites(self):
        return self.app.extensions["sites"]

    @property
    def readings(self):
        return self.app.extensions["readings"]

    # -- lookups ----------------------------------------------------------

    def _lookup(self, site_ids, org_ids, sensor_ids) -> tuple[dict, dict, dict]:
        """Sites, orgs (defaults filled in) and registered sensors' (kind,
        declared unit), in one round trip."""
        site_ids, org_ids, sensor_ids = list(site_ids), list(org_ids), list(sensor_ids)
        pipe = self.client.pipeline(transaction=False)
        for site_id in site_ids:
            pipe.hmget(keys.site(site_id), "id", "org", "timezone", "threshold")
        for org_id in org_ids:
            pipe.hmget(keys.org(org_id), *ORG_FIELDS)
        for sensor in sensor_ids:
            pipe.hmget(keys.sensor_meta(sensor), "kind", "unit")
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
        sensors = {}
        for sensor, (kind, unit) in zip(sensor_ids, replies, strict=True):
            if kind is not None:
                sensors[sensor] = (kind.decode(), _text(unit))
        return sites, orgs, sensors

    # -- ingest -----------------------------------------------------------

    def _resolve(self, items: list[dict]):
        """Lookups, unit conversion and checks of validated items; returns
        (sites, orgs, sensor of each item, °C of each item, first org of
        each new site, impossible values by index, cross-org items by index)."""
        sensor_of = [item.get("sensorId") or item["siteId"] for item in items]
        sites, orgs, sensors = self._lookup(
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
                conflicts[str(index)] = {"orgId": [
                    f"The site {site.id!r} belongs to another org." if owner
                    else f"The site {site.id!r} belongs to no org; set its org with PATCH /v1/sites/{site.id}."
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
        return sites, orgs, sensor_of, celsius, first_org, invalid, conflicts

    def value_errors(self, items: list[dict]) -> dict:
        """Problems of valid-looking items that only their site, org or
        sensor reveal (a value below absolute zero in the org's unit...)."""
        return self._resolve(items)[5]

    def ingest(self, items: list[dict], now: float | None = None) -> dict:
        """Store validated readings (``siteId``, ``orgId``, ``temperature``,
        ``timestamp`` in us, optional ``unit`` and ``sensorId``).

        Raises Rejected (422 impossible values, 409 cross-org) before
        anything is written.
        """
        now = self.clock() if now is None else now
        sites, orgs, sensor_of, celsius, first_org, invalid, conflicts = self._resolve(items)
        if invalid:
            raise Rejected(422, f"{len(invalid)} of {len(items)} readings are invalid; nothing was written.",
                           {"json": invalid})
        if conflicts:
            raise Rejected(409, f"{len(conflicts)} of {len(items)} readings name a site of another org; "
                           "nothing was written.", {"json": conflicts})
        registered = [site_id for site_id, site in sites.items() if not site.exists]
        for site_id in registered:
            self._register(site_id, first_org[site_id])
        days = self._days(items, sensor_of, celsius, sites, orgs, now)
        self._apply_days(days)
        accepted = self.readings.ingest(self._reading_groups(items, sensor_of, celsius), now=now)
        return {"accepted": accepted, "duplicates": len(items) - accepted, "sitesRegistered": registered}

    def _register(self, site_id: str, org_id: str) -> None:
        created = self.sites.create({"id": site_id, "name": site_id, "location": FIRST_SIGHT_LOCATION, "org": org_id})
        if created is None:
            # Another request registered it meanwhile: fine if for the same org.
            site = self.sites.get(site_id)
            if site is not None and site["org"] != org_id:
                raise Rejected(409, f"The site {site_id!r} belongs to another org; nothing was written.")

    def _days(self, items, sensor_of, celsius, sites, orgs, now) -> dict:
        """(site, local date) -> [org, ttl, then sensor, offset, value per reading]."""
        days: dict[tuple[str, date], list] = {}
        for index, item in enumerate(items):
            site = sites[item["siteId"]]
            zone_name = site.timezone or orgs[item["orgId"]]["timezone"] or DEFAULT_TIMEZONE
            us = item["timestamp"]
            day = local_date(zone_name, us)
            start, end = day_bounds(zone_name, day)
            ttl = int(end / 1_000_000 + self.retention_days * 86_400 - now)
            if ttl <= 0:
                continue  # beyond retention: kept by the readings store only
            args = days.get((site.id, day))
            if args is None:
                args = days[(site.id, day)] = [item["orgId"], ttl]
            args += (sensor_of[index], us - start, repr(celsius[index]))
        return days

    def _apply_days(self, days: dict) -> None:
        pipe = self.client.pipeline(transaction=False)
        calls = []
        for (site_id, day), args in days.items():
            call_keys = [keys.site(site_id), keys.site_day(site_id, day.isoformat())]
            calls.append((call_keys, args))
            pipe.evalsha(self._day.sha, 2, *call_keys, *args)
        results = pipe.execute(raise_on_error=False) if calls else []
        for (call_keys, args), result in zip(calls, results, strict=True):
            if isinstance(result, Exception):
                # NOSCRIPT after a Redis restart: redis-py's Script reloads it.
                result = self._day(keys=call_keys, args=args)
            if result < 0:
                # Only a concurrent change of the site's org gets here.
                raise Rejected(409, f"The site {keys.hash_tag(call_keys[0])!r} belongs to another org.")

    def _reading_groups(self, items, sensor_of, celsius) -> dict:
        """The readings store's grouping: sensor -> [latest us, its ISO text,
        its value, {bucket: [offset, value, ...]}]."""
        groups: dict[str, list] = {}
        for index, item in enumerate(items):
            us = item["timestamp"]
            text = repr(celsius[index])
            group = groups.get(sensor_of[index])
            if group is None:
                group = groups[sensor_of[index]] = [us, None, text, {}]
            elif us > group[0]:
                group[0], group[2] = us, text
            bucket, offset = divmod(us, self.bucket_us)
            group[3].setdefault(bucket, []).extend((offset, text))
        for group in groups.values():
            group[1] = timeutil.us_to_iso(group[0])
        return groups

    # -- the answer -------------------------------------------------------

    def site_settings(self, site_id: str) -> dict | None:
        """The site's org, effective time zone, threshold and org unit."""
        return self.sites_settings([site_id]).get(site_id)

    def sites_settings(self, site_ids) -> dict[str, dict]:
        """site_settings() of many sites (unknown ones left out), in two
        pipelined round trips: the sites, then their orgs."""
        site_ids = list(dict.fromkeys(site_ids))
        pipe = self.client.pipeline(transaction=False)
        for site_id in site_ids:
            pipe.hmget(keys.site(site_id), "id", "org", "timezone", "threshold")
        found = {
            site_id: (_text(org_id), _text(zone_name), threshold)
            for site_id, (exists, org_id, zone_name, threshold) in zip(site_ids, pipe.execute(), strict=True)
            if exists is not None
        }
        org_ids = list(dict.fromkeys(org_id for org_id, _, _ in found.values() if org_id))
        pipe = self.client.pipeline(transaction=False)
        for org_id in org_ids:
            pipe.hmget(keys.org(org_id), *ORG_FIELDS)
        orgs = {org_id: effective(org_id, raw) for org_id, raw in zip(org_ids, pipe.execute(), strict=True)}
        no_org = effective(None, [None] * len(ORG_FIELDS))
        settings = {}
        for site_id, (org_id, zone_name, threshold) in found.items():
            org = orgs.get(org_id, no_org)
            settings[site_id] = {
                "org": org_id,
                "timezone": zone_name or org["timezone"],
                "threshold": float(threshold) if threshold is not None else org["threshold"],
                "unit": org["unit"],
            }
        return settings

    def too_hot_today(self, site_ids, now: float | None = None) -> dict[str, bool]:
        """tooHot of today's answer (each site's local day) for many sites,
        in three pipelined round trips whatever their number; an unknown
        site is not too hot."""
        settings = self.sites_settings(site_ids)
        pipe = self.client.pipeline(transaction=False)
        for site_id, site in settings.items():
            pipe.hget(keys.site_day(site_id, self.today(site["timezone"], now).isoformat()), "max")
        maxima = pipe.execute() if settings else []
        hot = {site_id: False for site_id in site_ids}
        for (site_id, site), highest in zip(settings.items(), maxima, strict=True):
            hot[site_id] = highest is not None and float(highest) > site["threshold"]
        return hot

    def today(self, zone_name: str, now: float | None = None) -> date:
        return local_date(zone_name, round((self.clock() if now is None else now) * 1_000_000))

    def in_retention(self, zone_name: str, day: date, now: float | None = None) -> bool:
        today = self.today(zone_name, now)
        return today - timedelta(days=self.retention_days) <= day <= today

    def day_state(self, site_id: str, zone_name: str, day: date, threshold: float) -> dict:
        """readings, max (°C or None), max_at (ISO in the zone or None), minutes above."""
        date_text = day.isoformat()
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(keys.site_day(site_id, date_text), "readings", "max", "max_at")
        pipe.zcount(keys.site_day_minutes(site_id, date_text), f"({threshold!r}", "+inf")
        (readings, max_value, max_at), minutes_above = pipe.execute()
        if not readings:
            return {"readings": 0, "max": None, "max_at": None, "minutes_above": 0}
        start, _ = day_bounds(zone_name, day)
        moment = timeutil.us_to_datetime(start + int(max_at)).astimezone(zone(zone_name))
        return {
            "readings": int(readings),
            "max": float(max_value),
            "max_at": moment.isoformat(),
            "minutes_above": minutes_above,
        }

