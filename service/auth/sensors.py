"""Org scope of sensors: which sensors an org-scoped key may read and write.

A sensor's org is field ``org`` of ``sensor:{id}:meta`` (set by the sensor
registry, or by the first write of an org-scoped ingest key). The rule:

- all-orgs keys ("*") and open mode reach every sensor, without a Redis call;
- an org-scoped key reaches the sensors of its org and no other: another
  org's sensor answers 404, exactly like a sensor that does not exist;
- a sensor of no org is reached for reading only by all-orgs keys; an
  org-scoped key that *writes* to it claims it for its org first, so
  gateways holding an org key keep working without registering sensors --
  but only a sensor that holds no data (no statistics, no readings, no
  heartbeat, no registry metadata): one written before (by an all-orgs key,
  or before keys were configured) answers an org key exactly like another
  org's sensor until an all-orgs admin assigns it an org
  (``PUT /v1/sensors/<id>`` with ``org``). The check and the claim are one
  script (``claim.lua``), so no write can slip in between;
- a room's own sensor id (``fields.room_of_sensor``) is its room's:
  ``room.<org>.<building>.<room>`` is written by keys of that org only
  (whoever holds it: one claimed by another org before this rule stays
  refused to it until an all-orgs admin assigns its org), and
  ``room.<building>.<room>``, the room of no org's, is never claimed by an
  org key (one its org already holds, from before rooms were per org, is
  still its own);
- a site's id is the id of its own sensor (too-hot readings without a
  sensor go to it): an org key does not claim a sensor whose id is a site
  of another org, and a site is created for, or moved to, an org only when
  that org can have the sensor of its id (``sites_of_taken_sensors``).
  These checks read two slots (the site's, the sensor's), so they are not
  one script: a site created in the instant between another org's check
  and its claim of the same id is the one race left, and a later too-hot
  reading for that site then answers 404.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from redis.cluster import RedisCluster

from .. import keys
from ..errors import abort
from ..fields import ROOM_SENSOR_PREFIX, room_of_sensor
from ..redisdb.scripts import ScriptBatch, Scripts
from ..stores import stores
from .principal import principal

# Sensors named in a 404 message (a batch may hold thousands).
_NAMED_IN_ERROR = 10


def _decoded(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class SensorOrgs:
    """Reads the orgs of many sensors in one round trip."""

    def __init__(self, client, scripts: Scripts):
        self.client = client
        self.cluster = isinstance(self.client, RedisCluster)
        self._read = scripts.register(__package__, "sensor_orgs.lua")
        self._claim = scripts.register(__package__, "claim.lua")

    def read(self, sensor_ids: list[str]) -> list[str | None]:
        meta_keys = [keys.sensor_meta(sensor_id) for sensor_id in sensor_ids]
        if self.cluster:
            # Sensors of a batch span many slots: a pipeline reaches every
            # node at once, where one script call per slot would not.
            pipe = self.client.pipeline(transaction=False)
            for key in meta_keys:
                pipe.hget(key, keys.SENSOR_ORG_FIELD)
            orgs = pipe.execute()
        else:
            # One script call costs a third of a pipeline of HGETs in the client.
            orgs = self._read(keys=meta_keys)
        return [_decoded(org) for org in orgs]


    def claim(self, sensor_ids: list[str], org: str, check_only: bool = False) -> list[str | None]:
        """Claim each sensor of no org that holds no data for ``org`` (with
        ``check_only``, only tell whether it could be); returns each sensor's
        org afterwards, None for one of no org that holds data. One round
        trip (one per node on a cluster)."""
        batch = ScriptBatch(self.client)
        for sensor_id in sensor_ids:
            batch.script(
                self._claim,
                [keys.sensor_meta(sensor_id), keys.sensor(sensor_id), keys.sensor_heartbeat(sensor_id)],
                [org, "1" if check_only else "0"],
            )
        return [_decoded(found) if found else None for found in batch.execute()]

    def could_claim(self, sensor_ids: list[str], org: str) -> list[str | None]:
        """As ``claim`` with ``check_only``, and None also for a sensor whose
        id is a site of another org: a site's readings sent without a sensor
        go to the sensor of its id, which is its org's to claim. One round
        trip (one per node on a cluster), nothing written."""
        batch = ScriptBatch(self.client)
        for sensor_id in sensor_ids:
            batch.script(
                self._claim,
                [keys.sensor_meta(sensor_id), keys.sensor(sensor_id), keys.sensor_heartbeat(sensor_id)],
                [org, "1"],
            )
        for sensor_id in sensor_ids:
            batch.pipe.hget(keys.site(sensor_id), keys.SiteRecord.ORG)
        replies = batch.execute()
        found, site_orgs = replies[: len(sensor_ids)], replies[len(sensor_ids):]
        return [
            None if not owner or (site_org is not None and _decoded(site_org) != org) else _decoded(owner)
            for owner, site_org in zip(found, site_orgs, strict=True)
        ]


def sensor_orgs(sensor_ids: Collection[str]) -> list[str | None]:
    """The org of each sensor (None for no org), in one round trip."""
    return stores().sensor_orgs.read(list(sensor_ids))


def require_sensor(sensor_id: str, not_found_message: str) -> None:
    """404 with ``not_found_message`` unless the principal may reach the sensor."""
    who = principal()
    if who.all_orgs:
        return
    org = stores().client.hget(keys.sensor_meta(sensor_id), keys.SENSOR_ORG_FIELD)
    if _decoded(org) != who.org:
        abort(404, not_found_message)


def _refuse(sensor_ids: list[str], names: Mapping[str, str] | None = None) -> None:
    if names:
        sensor_ids = [names.get(sensor_id, sensor_id) for sensor_id in sensor_ids]
    named = ", ".join(sensor_ids[:_NAMED_IN_ERROR]) + (", ..." if len(sensor_ids) > _NAMED_IN_ERROR else "")
    abort(404, f"{len(sensor_ids)} sensor(s) not found for this API key: {named}. Nothing was written.")


def require_sensor_writes(sensor_ids: Collection[str], names: Mapping[str, str] | None = None) -> None:
    """Allow the principal to write to all of ``sensor_ids`` or stop with 404
    (naming a sensor as ``names`` maps it, by default by its id: a heartbeat
    names the MAC it was sent for, never the sensor the MAC is registered to).

    Call it after validating a batch and before writing anything. A route
    whose validation itself reads a sensor's metadata (its kind, its unit)
    calls ``refuse_foreign_sensors`` before that validation, so another org's
    sensor answers 404 like a missing one, and ``claim_sensors`` after it.
    """
    claim_sensors(refuse_foreign_sensors(sensor_ids, names=names), names=names)


def refuse_foreign_sensors(
    sensor_ids: Collection[str], orgs: Mapping[str, str | None] | None = None, names: Mapping[str, str] | None = None,
) -> list[str]:
    """404 when a sensor of ``sensor_ids`` belongs to another org than the
    principal's, or to no org while holding data; returns those of no org
    (for ``claim_sensors``). Reads only: one round trip for an org-scoped
    key (none when the caller already read the sensors' ``orgs``, sensor ->
    org or None), one more when some have no org; nothing for all-orgs keys."""
    who = principal()
    if who.all_orgs or not sensor_ids:
        return []
    ids = list(sensor_ids)
    orgs = sensor_orgs(ids) if orgs is None else [orgs[sensor_id] for sensor_id in ids]
    # A string prefix test per sensor: the namespace costs POST /data nothing more.
    reserved = {sensor_id for sensor_id, org in zip(ids, orgs, strict=True)
                if sensor_id.startswith(ROOM_SENSOR_PREFIX) and _room_sensor_of_another(sensor_id, who.org, org)}
    unowned = [sensor_id for sensor_id, org in zip(ids, orgs, strict=True) if org is None and sensor_id not in reserved]
    # A sensor of no org is claimable only while it holds no data, and not
    # when its id is another org's site's; otherwise it answers like another
    # org's (read only here: claim_sensors claims).
    could_be = dict(zip(unowned, stores().sensor_orgs.could_claim(unowned, who.org), strict=True)) if unowned else {}
    foreign = [
        sensor_id for sensor_id, org in zip(ids, orgs, strict=True)
        if sensor_id in reserved or (org is not None and org != who.org) or (org is None and could_be[sensor_id] != who.org)
    ]
    if foreign:
        _refuse(foreign, names)
    return unowned


def sites_of_taken_sensors(site_orgs: Mapping[str, str | None]) -> list[str]:
    """The sites of ``site_orgs`` (site id -> the org it is created for, or
    moved to) whose id is the id of a sensor that org cannot have: another
    org's, or, for an org key, one of no org holding data (an all-orgs key
    writes it, and assigns its org). A site's readings sent without a
    sensor go to the sensor of its id, so such a site would answer them 404
    for good; its creation is refused instead. Sites of no org take no
    readings: not checked. One round trip per org (nothing written)."""
    all_orgs = principal().all_orgs
    taken = []
    by_org: dict[str, list[str]] = {}
    for site_id, org in site_orgs.items():
        if org is not None:
            by_org.setdefault(org, []).append(site_id)
    for org, site_ids in by_org.items():
        owners = stores().sensor_orgs.claim(site_ids, org, check_only=True)
        taken += [site_id for site_id, owner in zip(site_ids, owners, strict=True)
                  if owner != org and (owner is not None or not all_orgs)]
    return taken


def _room_sensor_of_another(sensor_id: str, key_org: str, org: str | None) -> bool:
    """True when ``sensor_id`` (of org ``org``) is a room's own sensor id
    that a key of ``key_org`` may not write: another org's room's, or the
    room of no org's unless ``key_org`` already holds it."""
    room = room_of_sensor(sensor_id)
    if room is None:
        return False
    if room[0] is not None:
        return room[0] != key_org
    return org != key_org


def claim_sensors(unclaimed: list[str], names: Mapping[str, str] | None = None) -> None:
    """Claim sensors of no org that hold no data for the principal's org
    (one round trip, before anything is written to them); 404 when another
    org claimed one in between, or data reached one in between."""
    if not unclaimed:
        return
    who = principal()
    owners = stores().sensor_orgs.claim(unclaimed, who.org)
    # The registry's org index (its readers check the metadata, so an entry
    # of a lost claim would be harmless; none is added).
    won = [sensor_id for sensor_id, org in zip(unclaimed, owners, strict=True) if org == who.org]
    if won:
        stores().client.sadd(keys.sensors_by("org", who.org), *won)
    lost = [sensor_id for sensor_id, org in zip(unclaimed, owners, strict=True) if org != who.org]
    if lost:
        _refuse(lost, names)
