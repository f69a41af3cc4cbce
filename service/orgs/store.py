"""Org settings in the ``org:{<org>}`` hash (layout: ``service.keys``).

Each site of an org holds a copy of its org's settings in its own record
(``site_copy.lua``), so that the too-hot answer is one script on the site's
hash tag. Org updates are rare: ``put`` bumps the org's ``version`` and
copies the new settings to every site of the org at write time; a site
that joins an org gets its copy from ``copy_to_site``. A copy that is
missing or of another org is refreshed by the reader (``copy_to_site``),
so a crash half-way through a fan-out costs one slower read, never a wrong
answer for long: the client's retry of the PUT finishes the fan-out.
"""

from __future__ import annotations

from .. import keys, timeutil
from ..redisdb.scripts import ScriptBatch, Scripts

DEFAULT_UNIT = "C"
DEFAULT_TIMEZONE = "Europe/Brussels"
DEFAULT_THRESHOLD = 25.0
FIELDS = ("unit", "timezone", "threshold", "updated_at")
# Sites per pipeline of the fan-out.
FAN_OUT_CHUNK = 500


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


def effective(org_id: str, raw: list) -> dict:
    """An org's settings from HMGET ``FIELDS`` replies, defaults filled in."""
    unit, zone, threshold, updated_at = (_text(value) for value in raw)
    return {
        "id": org_id,
        "unit": unit or DEFAULT_UNIT,
        "timezone": zone or DEFAULT_TIMEZONE,
        "threshold": float(threshold) if threshold is not None else DEFAULT_THRESHOLD,
        "updated_at": updated_at,
    }


class OrgStore:
    def __init__(self, client, scripts: Scripts):
        self.client = client
        self._site_copy = scripts.register(__package__, "site_copy.lua")

    def get(self, org_id: str) -> dict | None:
        """The org's settings; None when it was never configured and owns no site."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(keys.org(org_id), *FIELDS)
        pipe.zcard(keys.sites_by_org(org_id))
        raw, sites = pipe.execute()
        if raw[-1] is None and not sites:
            return None
        return effective(org_id, raw)

    def put(self, org_id: str, data: dict) -> tuple[dict, bool]:
        """Replace the org's settings (fields left out fall back to their
        defaults) and copy them to its sites; returns (settings, whether
        the unit changed)."""
        values = {
            "unit": data.get("unit") or DEFAULT_UNIT,
            "timezone": data.get("timezone") or DEFAULT_TIMEZONE,
            "threshold": repr(float(data["threshold"])) if data.get("threshold") is not None else repr(DEFAULT_THRESHOLD),
            "updated_at": timeutil.us_to_iso(timeutil.now_us()),
        }
        # One key: the old unit, the new version and the new settings in one transaction.
        pipe = self.client.pipeline(transaction=True)
        pipe.hget(keys.org(org_id), "unit")
        pipe.hincrby(keys.org(org_id), "version", 1)
        pipe.hset(keys.org(org_id), mapping=values)
        old_unit, version, _ = pipe.execute()
        org = effective(org_id, [values[name].encode() for name in FIELDS])
        self._copy_to_sites(org, version)
        return org, _text(old_unit) != values["unit"]

    def _copy_args(self, org: dict, version: int) -> list:
        return [org["id"], version, org["unit"], org["timezone"], repr(org["threshold"])]

    def _copy_to_sites(self, org: dict, version: int) -> None:
        """Copy the settings to every site indexed under the org (the script
        skips an entry left behind by a site that moved to another org)."""
        site_ids = [raw.decode() for raw in self.client.zrange(keys.sites_by_org(org["id"]), 0, -1)]
        args = self._copy_args(org, version)
        for start in range(0, len(site_ids), FAN_OUT_CHUNK):
            batch = ScriptBatch(self.client)
            for site_id in site_ids[start : start + FAN_OUT_CHUNK]:
                batch.script(self._site_copy, [keys.site(site_id)], args)
            batch.execute()

    def copy_to_site(self, site_id: str, org_id: str) -> bool:
        """Copy the org's current settings into the site's record (a site
        joined the org, or its copy was found missing); False when the site
        is not the org's (nothing changed)."""
        # One command, so the settings and their version belong together.
        *raw, version = self.client.hmget(keys.org(org_id), *FIELDS, "version")
        args = self._copy_args(effective(org_id, raw), int(version or 0))
        return self._site_copy(keys=[keys.site(site_id)], args=args) == 1
