"""Org settings in the ``org:{<org>}`` hash (layout: ``service.keys``)."""

from __future__ import annotations

import time

from flask import Flask

from .. import keys, timeutil
from ..redis_client import redis_ext

DEFAULT_UNIT = "C"
DEFAULT_TIMEZONE = "Europe/Brussels"
DEFAULT_THRESHOLD = 25.0
FIELDS = ("unit", "timezone", "threshold", "updated_at")


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
    def __init__(self, app: Flask):
        self.client = redis_ext.client_for(app)

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
        defaults); returns (settings, whether the unit changed)."""
        values = {
            "unit": data.get("unit") or DEFAULT_UNIT,
            "timezone": data.get("timezone") or DEFAULT_TIMEZONE,
            "threshold": repr(float(data["threshold"])) if data.get("threshold") is not None else repr(DEFAULT_THRESHOLD),
            "updated_at": timeutil.us_to_iso(time.time_ns() // 1000),
        }
        # One key, one command: HSET of every field is atomic.
        old_unit = self.client.hget(keys.org(org_id), "unit")
        self.client.hset(keys.org(org_id), mapping=values)
        return effective(org_id, [values[name].encode() for name in FIELDS]), _text(old_unit) != values["unit"]
