"""Heartbeats: device heartbeats by MAC address and the sensor overview."""

from __future__ import annotations

import time

from ..auth import listing_org, principal, require_sensor_writes, requires
from ..conditional import conditional_json
from ..jsonio import Blueprint
from ..stores import stores
from ..timeutil import iso_now
from .schemas import (
    ChangesPageSchema,
    ChangesQuerySchema,
    HeartbeatResultSchema,
    HeartbeatSchema,
    SensorsPageSchema,
    SensorsQuerySchema,
)

blp = Blueprint("heartbeats", __name__, description="Heartbeats: device heartbeats and sensor status.")


def _store():
    return stores().heartbeats


@blp.route("/heartbeat", methods=["POST"])
@requires("ingest")
@blp.arguments(HeartbeatSchema)
@blp.response(200, HeartbeatResultSchema, description="Recorded at the server's time; an unknown MAC registers a sensor.")
@blp.alt_response(404, description="The MAC's sensor belongs to another org, or to none and holds data; nothing written")
@blp.alt_response(422, description="Not a valid MAC address; nothing written")
@blp.alt_response(503, description="Redis not answering; retry")
def post_heartbeat(body: dict):
    """Record a heartbeat

    A MAC address registered to a sensor (``PUT /v1/sensors/<id>`` with
    ``mac``) beats for that sensor, and only a key of that sensor's org may
    send it (another org's key: 404, as for a sensor that does not exist).
    """
    return _heartbeat(body["mac_address"])


@blp.route("/heartbeat", methods=["GET"])
@requires("ingest")
@blp.arguments(HeartbeatSchema, location="query")
@blp.response(200, HeartbeatResultSchema, description="Recorded, as for POST (for devices that can only GET).")
@blp.alt_response(404, description="The MAC's sensor belongs to another org, or to none and holds data; nothing written")
@blp.alt_response(422, description="Not a valid MAC address; nothing written")
@blp.alt_response(503, description="Redis not answering; retry")
def get_heartbeat(query: dict):
    """Record a heartbeat (GET form)"""
    return _heartbeat(query["mac_address"])


def _heartbeat(mac: str) -> dict:
    # The sensor the registry maps the MAC to, else the sensor whose id is the MAC.
    sensor_id = stores().sensors.mac_owner(mac) or mac
    # A refusal names the MAC sent, not the sensor it is registered to.
    require_sensor_writes([sensor_id], names={sensor_id: mac})
    return _store().heartbeat(mac, sensor_id=sensor_id)


@blp.route("/sensors", methods=["GET"])
@requires("read")
@blp.arguments(SensorsQuerySchema, location="query")
@blp.response(200, SensorsPageSchema, headers={"ETag": {
    "description": "Of the page's content (not server_time); sent back in If-None-Match, an unchanged page is a 304",
    "schema": {"type": "string"}}})
@blp.alt_response(304, description="Not Modified: the page is as the If-None-Match ETag says (no body)")
@blp.alt_response(404, description="An org key asked for another org")
@blp.alt_response(422, description="Invalid limit, cursor, org or unit")
def list_sensors(query: dict):
    """Every sensor heard of or registered, most recently heard first, with status

    The never heard (registered only) come last with status
    ``never_heard``. A device is one sensor whether known by its sensor id,
    its MAC address or both. An org key sees its org's sensors only (a
    sensor's org is its registry metadata's); an all-orgs key sees all, or
    one org with ``org=``. ``too_hot``: a temperature sensor with a reading
    whose site has been too hot today, as ``GET /v1/admin/toohotornot`` answers;
    ``too_hot_sites`` lists this page's sites that are. A sensor of no org
    shows its site's. ``unit`` converts the last readings of the sensors of
    its kind (``F``: every thermometer in °F).

    The page has a strong ``ETag`` of its content (all but ``server_time``):
    a status turning with time, a reading or a heartbeat changes it. With
    ``If-None-Match`` holding it, the answer is ``304 Not Modified``.
    """
    org = listing_org(query.get("org"))
    now = time.time()
    sensors, total = _store().overview(query["cursor"], query["limit"], now, org=org, unit=query.get("unit"))
    following = query["cursor"] + len(sensors)
    page = SensorsPageSchema().dump({
        "sensors": sensors,
        "too_hot_sites": _too_hot(sensors, org),
        "total": total,
        "offline_after": stores().settings.offline_after,
        "server_time": iso_now(now),
        "next_cursor": following if following < total else None,
    })
    return conditional_json(page, volatile=("server_time",))


@blp.route("/sensors/changes", methods=["GET"])
@requires("read")
@blp.arguments(ChangesQuerySchema, location="query")
@blp.response(200, ChangesPageSchema, headers={"ETag": {
    "description": "Of the answer's content (not server_time); an unchanged answer to the same since is a 304",
    "schema": {"type": "string"}}})
@blp.alt_response(304, description="Not Modified: nothing changed since the answer the If-None-Match ETag names")
@blp.alt_response(404, description="An org key asked for another org")
@blp.alt_response(422, description="Invalid since, limit, org or unit")
def sensor_changes(query: dict):
    """The sensors that changed since a cursor, for a live view of GET /sensors

    The sensors heard (a reading or a heartbeat) or turned offline since
    ``since`` (epoch milliseconds of the server's clock), looking a couple of
    seconds before it as well, so that nothing is missed (a sensor may be
    answered twice), in the item shape of ``GET /sensors``, with the same
    org filtering and ``unit=``. Start with the time of a ``GET /sensors``
    answer (its ``server_time``, or its ``Date`` on a 304), then pass
    ``next_cursor``: the latest change answered, unchanged when nothing
    changed, so an idle view asking again gets a ``304`` to its ETag.
    ``fleet`` changes when a sensor is registered or first heard of: list
    ``GET /sensors`` again then (a registered sensor never heard of is no
    change here). Registry edits, stale flags turning with time and sites
    turning not-too-hot are not changes either: list ``GET /sensors`` again
    now and then (the dashboard: every minute). ``complete: false`` (no sensors)
    says more than ``limit`` changed: list ``GET /sensors`` again, then
    carry on from its time.
    """
    org = listing_org(query.get("org"))
    now = time.time()
    sensors, cursor, complete = _store().changes(query["since"] / 1000, now, query["limit"], org=org,
                                                 unit=query.get("unit"))
    page = ChangesPageSchema().dump({
        "sensors": sensors,
        "too_hot_sites": _too_hot(sensors, org),
        "complete": complete,
        "fleet": _store().fleet_count(org),
        "offline_after": stores().settings.offline_after,
        "server_time": iso_now(now),
        "next_cursor": int(cursor * 1000),
    })
    return conditional_json(page, volatile=("server_time",))


def _too_hot(sensors: list[dict], org: str | None) -> list[str]:
    """Sets each sensor's too_hot (and its site's org where it has none) as
    GET /v1/admin/toohotornot answers; returns their sites too hot today.

    Only sites of the listing's org count (``org``: None for an all-orgs
    key listing every org), and a sensor only with a site of its own org:
    one registered on another org's site (as could be done before the
    registry refused it) shows nothing of that site."""
    who = principal()
    today = stores().toohot.today({s["site"] for s in sensors if s["site"]})
    shown = {site_id: site for site_id, site in today.items()
             if who.can_access_org(site["org"]) and (org is None or site["org"] == org)}
    hot_sites = set()
    for sensor in sensors:
        site = shown.get(sensor["site"])
        if site is not None and sensor["org"] is not None and sensor["org"] != site["org"]:
            site = None
        if site is None:
            sensor["too_hot"] = False
            continue
        if site["too_hot"]:
            hot_sites.add(sensor["site"])
        # A thermometer with a reading: one never heard has nothing to say of its site.
        sensor["too_hot"] = site["too_hot"] and sensor["kind"] == "temperature" and sensor["last_reading"] is not None
        sensor["org"] = sensor["org"] or site["org"]
    return sorted(hot_sites)
