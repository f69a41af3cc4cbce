"""Sites, their configuration versions and live data in Redis (layout: ``service.keys``).

Every write to one site is one Lua script over keys sharing the site's hash
tag. The cross-site indexes (all sites, by org, by location) are separate
keys: they are written before the record changes and every listing checks
each indexed id against its record, so an index entry left behind by a
crash or by a changed org is skipped, never shown wrongly.
"""

from __future__ import annotations

import orjson

from .. import keys, timeutil
from ..errors import NotFoundError
from ..redisdb.scripts import Scripts
from ..settings import Settings
from .schemas import COLUMNS

# Record fields that are not part of the public site (configuration bookkeeping).
_OPTIONAL_FIELDS = ("org", "timezone", "threshold")
# A live entry's fields, in its stored order: the request's columns, as
# Python names (dt-stamp -> dt_stamp).
LIVE_FIELDS = tuple(name.replace("-", "_") for name in COLUMNS)


class UnknownSite(NotFoundError):
    """No site has this id (answered 404)."""

    def __init__(self, site_id: str):
        super().__init__(f"No site has the id {site_id!r}.")


def _encode_value(name: str, value) -> str:
    return repr(float(value)) if name == "threshold" else str(value)


def _decode_record(raw: dict) -> dict:
    record = {k.decode(): v.decode() for k, v in raw.items()}
    site = {name: record.get(name) for name in ("id", "name", "location", *_OPTIONAL_FIELDS)}
    if site["threshold"] is not None:
        site["threshold"] = float(site["threshold"])
    site["created_at"] = record.get("created_at")
    site["updated_at"] = record.get("updated_at")
    return site


def _decode_version(site_id: str, raw: bytes) -> dict:
    item = orjson.loads(raw)
    return {
        "site": site_id,
        "version": item["version"],
        "valid_from": timeutil.us_to_iso(item["valid_from_us"]),
        "valid_from_us": item["valid_from_us"],
        "configuration": item["configuration"],
    }


def encode_live_entry(entry: dict) -> tuple[int, bytes]:
    """(instant in us, sorted-set member): a compact JSON array, 40 % of
    the bytes of the same entry as a keyed object (66 B against 165 B)."""
    us, iso = entry["dt_stamp"]
    return us, orjson.dumps([iso, *(entry[name] for name in LIVE_FIELDS[1:])])


def decode_live_entry(member: bytes) -> dict:
    return dict(zip(LIVE_FIELDS, orjson.loads(member), strict=True))


class SiteStore:
    def __init__(self, client, scripts: Scripts, settings: Settings):
        self.client = client
        self.retention_days = settings.live_retention_days
        self._create = scripts.register(__package__, "create.lua")
        self._patch = scripts.register(__package__, "patch.lua")
        self._configure = scripts.register(__package__, "configure.lua")
        self._live = scripts.register(__package__, "live.lua")

    # -- sites ------------------------------------------------------------

    def _index(self, site_id: str, org: str | None, location: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(keys.SITES_ALL, {site_id: 0})
        if org is not None:
            pipe.zadd(keys.sites_by_org(org), {site_id: 0})
        pipe.zadd(keys.sites_by_location(location), {site_id: 0})
        pipe.execute()

    def create(self, site: dict, now_us: int | None = None) -> dict | None:
        """Store a new site (``id`` set); None when the id is taken."""
        stamp = timeutil.us_to_iso(timeutil.now_us() if now_us is None else now_us)
        record = {"id": site["id"], "name": site["name"], "location": site["location"]}
        record.update({name: site[name] for name in _OPTIONAL_FIELDS if site.get(name) is not None})
        record["created_at"] = record["updated_at"] = stamp
        if self.client.exists(keys.site(site["id"])):
            # Taken: answer 409 without touching the indexes. (A create racing
            # this check is still refused by the script; its index entries
            # are then stale ones, which readers skip.)
            return None
        self._index(site["id"], record.get("org"), record["location"])
        args = [part for name, value in record.items() for part in (name, _encode_value(name, value))]
        if not self._create(keys=[keys.site(site["id"])], args=args):
            return None
        return self.get(site["id"])

    def get(self, site_id: str) -> dict | None:
        raw = self.client.hgetall(keys.site(site_id))
        return _decode_record(raw) if raw else None

    def require(self, site_id: str) -> dict:
        site = self.get(site_id)
        if site is None:
            raise UnknownSite(site_id)
        return site

    def patch(self, site_id: str, changes: dict, now_us: int | None = None) -> dict:
        """Apply changes (None removes an optional field); the site after."""
        current = self.require(site_id)
        new_org = changes.get("org", current["org"])
        new_location = changes.get("location", current["location"])
        self._index(site_id, new_org, new_location)
        updates = {name: value for name, value in changes.items() if value is not None}
        updates["updated_at"] = timeutil.us_to_iso(timeutil.now_us() if now_us is None else now_us)
        removed = [name for name, value in changes.items() if value is None]
        args = [len(updates)]
        args += [part for name, value in updates.items() for part in (name, _encode_value(name, value))]
        args += removed
        result = self._patch(keys=[keys.site(site_id)], args=args)
        if result is None:
            raise UnknownSite(site_id)
        old_org, old_location, flat = result
        site = _decode_record(dict(zip(flat[::2], flat[1::2], strict=True)))
        self._unindex_stale(site, old_org, old_location)
        return site

    def _unindex_stale(self, site: dict, old_org: bytes | None, old_location: bytes | None) -> None:
        # Best effort: a listing skips stale entries anyway.
        pipe = self.client.pipeline(transaction=False)
        if old_org is not None and old_org.decode() != site["org"]:
            pipe.zrem(keys.sites_by_org(old_org.decode()), site["id"])
        if old_location is not None and old_location.decode() != site["location"]:
            pipe.zrem(keys.sites_by_location(old_location.decode()), site["id"])
        pipe.execute()

    def list(self, org: str | None, location: str | None, limit: int, cursor: str | None) -> tuple[list, str | None]:
        """Sites in id order after ``cursor``, filtered; and the next cursor."""
        if org is not None:
            index = keys.sites_by_org(org)
        elif location is not None:
            index = keys.sites_by_location(location)
        else:
            index = keys.SITES_ALL
        batch = limit + 1
        start = f"({cursor}" if cursor else "-"
        sites: list[dict] = []
        while True:
            ids = self.client.zrangebylex(index, start, "+", start=0, num=batch)
            if not ids:
                return sites, None
            pipe = self.client.pipeline(transaction=False)
            for site_id in ids:
                pipe.hgetall(keys.site(site_id.decode()))
            for raw in pipe.execute():
                if not raw:
                    continue
                site = _decode_record(raw)
                if (org is not None and site["org"] != org) or (location is not None and site["location"] != location):
                    continue
                if len(sites) == limit:
                    return sites, sites[-1]["id"]
                sites.append(site)
            if len(ids) < batch:
                return sites, None
            start = b"(" + ids[-1]

    # -- configuration ----------------------------------------------------

    def configure(self, site_id: str, configuration: dict, now_us: int | None = None) -> tuple[bool, dict]:
        """(whether a new version was stored, the version now current)."""
        document = orjson.dumps(configuration, option=orjson.OPT_SORT_KEYS)
        result = self._configure(
            keys=[keys.site(site_id), keys.site_configurations(site_id)],
            args=[document, timeutil.now_us() if now_us is None else now_us],
        )
        if result[0] == -1:
            raise UnknownSite(site_id)
        valid_from_us = int(result[2])
        return result[0] == 1, {
            "site": site_id,
            "version": int(result[1]),
            "valid_from": timeutil.us_to_iso(valid_from_us),
            "valid_from_us": valid_from_us,
            "configuration": orjson.loads(document),
        }

    def configurations(self, site_id: str) -> list[dict]:
        """Every version of the site's configuration, oldest first."""
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(keys.site(site_id))
        pipe.lrange(keys.site_configurations(site_id), 0, -1)
        exists, items = pipe.execute()
        if not exists:
            raise UnknownSite(site_id)
        return [_decode_version(site_id, item) for item in items]

    def configuration_at(self, site_id: str, at_us: int | None = None) -> dict | None:
        """The version in force at ``at_us`` (default: now); None if none was."""
        if at_us is None:
            pipe = self.client.pipeline(transaction=False)
            pipe.exists(keys.site(site_id))
            pipe.lindex(keys.site_configurations(site_id), -1)
            exists, item = pipe.execute()
            if not exists:
                raise UnknownSite(site_id)
            return _decode_version(site_id, item) if item else None
        in_force = None
        for version in self.configurations(site_id):
            if version["valid_from_us"] > at_us:
                break
            in_force = version
        return in_force

    # -- live data --------------------------------------------------------

    def live_cutoff_us(self, now_us: int | None = None) -> int | None:
        """Oldest instant kept under LIVE_RETENTION_DAYS (None: keep all)."""
        if not self.retention_days:
            return None
        return (timeutil.now_us() if now_us is None else now_us) - self.retention_days * 86_400_000_000

    def add_live(self, site_id: str, entries: list[dict], cutoff_us: int | None = None) -> int:
        """Store validated entries (distinct instants, none before ``cutoff_us``)
        and drop stored ones before it; returns how many were new."""
        args: list = ["-inf" if cutoff_us is None else cutoff_us]
        for entry in entries:
            args += encode_live_entry(entry)
        added = self._live(keys=[keys.site(site_id), keys.site_live(site_id)], args=args)
        if added < 0:
            raise UnknownSite(site_id)
        return added

    def latest_live(self, site_id: str) -> dict | None:
        """The entry with the newest instant (not the last one posted)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(keys.site(site_id))
        pipe.zrange(keys.site_live(site_id), -1, -1)
        exists, members = pipe.execute()
        if not exists:
            raise UnknownSite(site_id)
        return decode_live_entry(members[0]) if members else None

    def live_range(
        self, site_id: str, start_us: int | None, end_us: int | None, limit: int
    ) -> tuple[list[dict], int | None]:
        """Entries with start <= instant < end, oldest first, at most ``limit``;
        and the instant to start the next page at (None when done)."""
        low = "-inf" if start_us is None else start_us
        high = "+inf" if end_us is None else f"({end_us}"
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(keys.site(site_id))
        pipe.zrangebyscore(keys.site_live(site_id), low, high, start=0, num=limit + 1, withscores=True)
        exists, rows = pipe.execute()
        if not exists:
            raise UnknownSite(site_id)
        next_us = int(rows[limit][1]) if len(rows) > limit else None
        return [decode_live_entry(member) for member, _ in rows[:limit]], next_us
