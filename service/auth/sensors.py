"""Org scope of sensors: which sensors an org-scoped key may read and write.

A sensor's org is field ``org`` of ``sensor:{id}:meta`` (set by the sensor
registry, or by the first write of an org-scoped ingest key). The rule:

- all-orgs keys ("*") and open mode reach every sensor, without a Redis call;
- an org-scoped key reaches the sensors of its org and no other: another
  org's sensor answers 404, exactly like a sensor that does not exist;
- a sensor of no org is reached for reading only by all-orgs keys; an
  org-scoped key that *writes* to it claims it for its org first, so
  gateways holding an org key keep working without registering sensors.
"""

from __future__ import annotations

from collections.abc import Collection

from .. import keys
from ..errors import abort
from ..redis_client import redis_ext
from .guard import principal

# Sensors named in a 404 message (a batch may hold thousands).
_NAMED_IN_ERROR = 10


def _decoded(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def sensor_orgs(client, sensor_ids: Collection[str]) -> list[str | None]:
    """The org of each sensor (None for no org), in one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    for sensor_id in sensor_ids:
        pipe.hget(keys.sensor_meta(sensor_id), keys.SENSOR_ORG_FIELD)
    return [_decoded(org) for org in pipe.execute()]


def require_sensor(sensor_id: str, not_found_message: str) -> None:
    """404 with ``not_found_message`` unless the principal may reach the sensor."""
    who = principal()
    if who.all_orgs:
        return
    org = redis_ext.client.hget(keys.sensor_meta(sensor_id), keys.SENSOR_ORG_FIELD)
    if _decoded(org) != who.org:
        abort(404, not_found_message)


def _refuse(sensor_ids: list[str]) -> None:
    named = ", ".join(sensor_ids[:_NAMED_IN_ERROR]) + (", ..." if len(sensor_ids) > _NAMED_IN_ERROR else "")
    abort(404, f"{len(sensor_ids)} sensor(s) not found for this API key: {named}. Nothing was written.")


def require_sensor_writes(sensor_ids: Collection[str]) -> None:
    """Allow the principal to write to all of ``sensor_ids`` or stop with 404.

    Call it after validating a batch and before writing anything. Costs one
    pipelined read for an org-scoped key (nothing for all-orgs keys), and
    one more round trip only when the batch holds sensors of no org, which
    it claims for the key's org.
    """
    who = principal()
    if who.all_orgs or not sensor_ids:
        return
    ids = list(sensor_ids)
    orgs = sensor_orgs(redis_ext.client, ids)
    foreign = [sensor_id for sensor_id, org in zip(ids, orgs, strict=True) if org is not None and org != who.org]
    if foreign:
        _refuse(foreign)
    unclaimed = [sensor_id for sensor_id, org in zip(ids, orgs, strict=True) if org is None]
    if not unclaimed:
        return
    pipe = redis_ext.client.pipeline(transaction=False)
    for sensor_id in unclaimed:
        meta = keys.sensor_meta(sensor_id)
        pipe.hsetnx(meta, keys.SENSOR_ORG_FIELD, who.org)
        pipe.hget(meta, keys.SENSOR_ORG_FIELD)
    owners = pipe.execute()[1::2]
    # Another org may have claimed a sensor between the read and the claim.
    lost = [sensor_id for sensor_id, org in zip(unclaimed, owners, strict=True) if _decoded(org) != who.org]
    if lost:
        _refuse(lost)
