"""Energy sites: their metadata, versioned configuration and live data."""

from __future__ import annotations

import marshmallow as ma

from ..auth import assigned_org, listing_org, principal, require_org, requires, sites_of_taken_sensors
from ..errors import abort
from ..fields import MSG_SITE_ID, is_sensor_id
from ..jsonio import Blueprint, json_body
from ..stores import stores
from ..timeutil import future_horizon_us, zone_from_name
from .schemas import (
    ConfigurationHistorySchema,
    ConfigurationQuerySchema,
    ConfigurationSchema,
    ConfigurationVersionSchema,
    LiveEntryOutSchema,
    LivePageSchema,
    LiveQuerySchema,
    LiveResultSchema,
    SiteCreateSchema,
    SiteListQuerySchema,
    SiteListSchema,
    SitePatchSchema,
    SiteSchema,
    load_live,
    new_site_id,
)
from .store import UnknownSite

blp = Blueprint(
    "sites",
    __name__,
    url_prefix="/v1/sites",
    description="Energy sites: metadata, versioned configuration and live data.",
)

_LIVE_BODY = {
    "required": True,
    "description": (
        "Column form (one array per field, all the same length) or row form "
        "(an array of entries). A dt-stamp already stored for the site is a duplicate: ignored "
        "and counted. Any invalid value rejects the whole post with 422, naming column and row; "
        "nothing is written."
    ),
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/LiveColumns"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/LiveEntry"}},
                ]
            }
        }
    },
}


def _store():
    return stores().sites


def _checked_site_id(site_id: str) -> str:
    """A valid site id the API key may reach (400, or 404 for another org's site)."""
    if not is_sensor_id(site_id):
        abort(400, f"Invalid site id: {MSG_SITE_ID}.")
    if not principal().all_orgs:
        site = _store().get(site_id)
        require_org(site.get("org") if site else None, UnknownSite(site_id).message)
    return site_id


def _site(site_id: str) -> dict:
    site = _store().get(_checked_site_id(site_id))
    if site is None:
        raise UnknownSite(site_id)
    return site


# -- sites ----------------------------------------------------------------


def _refuse_taken_sensor(site_id: str, org: str | None) -> None:
    """409 when the site's id is a sensor's that ``org`` cannot have: its
    too-hot readings without a sensor would answer 404 for good. One body
    whatever org holds the sensor (or none), naming what the request sent."""
    if sites_of_taken_sensors({site_id: org}):
        abort(409, f"The id {site_id!r} is a sensor's that org {org!r} cannot write to; a site's readings sent "
                   "without a sensor go to the sensor of its id: choose another site id. Nothing was written.")


def _copy_org_settings(site: dict) -> None:
    """A site that joins an org gets a copy of the org's settings in its
    record (service/orgs/store.py), read by the too-hot answer."""
    if site["org"] is not None:
        stores().orgs.copy_to_site(site["id"], site["org"])



@blp.route("", methods=["POST"])
@requires("admin")
@blp.arguments(SiteCreateSchema)
@blp.response(201, SiteSchema, description="The site was created.")
@blp.alt_response(409, description=(
    "A site with this id exists, or the id is a sensor's that the site's org cannot have (the site's readings "
    "without a sensor go to it); nothing changed"))
@blp.alt_response(422, description="Invalid fields, listed by name (org null for an org key); nothing stored")
def create_site(data: dict):
    """Create a site (its id is assigned when none is sent)

    A site's too-hot readings sent without ``sensorId`` go to the sensor of
    the site's id: a site of an org cannot take the id of a sensor of
    another org, or of no org holding data (409).
    """
    data["org"] = assigned_org(data)  # an org admin creates sites of its own org
    store = _store()
    given = "id" in data
    if given:
        _refuse_taken_sensor(data["id"], data["org"])
    # An assigned id holds 80 random bits; a second try only guards against
    # the astronomically unlikely collision.
    for _ in range(1 if given else 2):
        site_id = data["id"] if given else new_site_id()
        site = store.create({**data, "id": site_id})
        if site is not None:
            _copy_org_settings(site)
            return site
    abort(409, f"A site with the id {site_id!r} already exists.")


@blp.route("", methods=["GET"])
@requires("read")
@blp.arguments(SiteListQuerySchema, location="query")
@blp.response(200, SiteListSchema, description="One page of sites in id order.")
def list_sites(query: dict):
    """List sites, optionally of one org and/or one location"""
    org = listing_org(query.get("org"))
    sites, next_cursor = _store().list(org, query.get("location"), query["limit"], query.get("cursor"))
    return {"sites": sites, "next_cursor": next_cursor}


@blp.route("/<site_id>", methods=["GET"])
@requires("read")
@blp.response(200, SiteSchema)
@blp.alt_response(400, description="Not a valid site id")
@blp.alt_response(404, description="Unknown site")
def get_site(site_id: str):
    """One site"""
    return _site(site_id)


@blp.route("/<site_id>", methods=["PATCH"])
@requires("admin")
@blp.arguments(SitePatchSchema)
@blp.response(200, SiteSchema, description="The site after the change.")
@blp.alt_response(400, description="Not a valid site id; or the body empty, not JSON, or repeating a key")
@blp.alt_response(404, description="Unknown site")
@blp.alt_response(409, description="The new org cannot have the sensor of the site's id (another org's, or of no org holding data)")
@blp.alt_response(422, description="Invalid fields, listed by name (org null for an org key); nothing changed")
def patch_site(changes: dict, site_id: str):
    """Change a site's name, location, org, time zone or threshold"""
    if "org" in changes:
        changes["org"] = assigned_org(changes)  # null: no org, for an all-orgs key only
    _checked_site_id(site_id)
    if changes.get("org") is not None:
        _refuse_taken_sensor(site_id, changes["org"])
    site = _store().patch(site_id, changes)
    if "org" in changes:
        _copy_org_settings(site)
    return site


# -- configuration ----------------------------------------------------------


@blp.route("/<site_id>/configuration", methods=["PUT"])
@requires("admin")
@blp.arguments(ConfigurationSchema)
@blp.response(201, ConfigurationVersionSchema, description="A new version was stored.")
@blp.alt_response(200, schema=ConfigurationVersionSchema, description="Same as the current version; nothing stored")
@blp.alt_response(404, description="Unknown site")
@blp.alt_response(422, description="Every problem of the document, by field; nothing stored")
def put_configuration(configuration: dict, site_id: str):
    """Set a site's configuration (a change becomes a new version)"""
    _checked_site_id(site_id)
    sent_id = configuration.pop("id", site_id)
    if str(sent_id) != site_id:
        abort(422, "The document's id is not the site's.", errors={"json": {"id": [f"Must be {site_id!r} or absent."]}})
    created, version = _store().configure(site_id, configuration)
    return version, 201 if created else 200


@blp.route("/<site_id>/configuration", methods=["GET"])
@requires("read")
@blp.arguments(ConfigurationQuerySchema, location="query")
@blp.response(200, ConfigurationVersionSchema, description="The current version, or the one in force at `at`.")
@blp.alt_response(404, description="Unknown site, or no configuration (at that time)")
def get_configuration(query: dict, site_id: str):
    """A site's configuration, now or at an instant"""
    at = query.get("at")
    version = _store().configuration_at(_checked_site_id(site_id), at[0] if at else None)
    if version is None:
        when = f" at {at[1]}" if at else ""
        abort(404, f"The site {site_id!r} had no configuration{when}.")
    return version


@blp.route("/<site_id>/configuration/history", methods=["GET"])
@requires("read")
@blp.response(200, ConfigurationHistorySchema, description="Every version, oldest first.")
@blp.alt_response(404, description="Unknown site")
def get_configuration_history(site_id: str):
    """Every configuration version of a site"""
    versions = _store().configurations(_checked_site_id(site_id))
    return {"site": site_id, "versions": versions}


# -- live data ---------------------------------------------------------------


def _entry_count(payload) -> int:
    """Entries a post claims to carry, before validation (for MAX_BATCH)."""
    if isinstance(payload, dict):
        stamps = payload.get("dt-stamp")
        return len(stamps) if isinstance(stamps, list) else 0
    return len(payload) if isinstance(payload, list) else 0


@blp.route("/<site_id>/live", methods=["POST"])
@requires("ingest")
@blp.doc(requestBody=_LIVE_BODY)
@blp.response(200, LiveResultSchema, description="Stored; counts of new and duplicate entries.")
@blp.alt_response(400, description="Not JSON")
@blp.alt_response(404, description="Unknown site")
@blp.alt_response(413, description="Body over MAX_BODY_BYTES or more than MAX_BATCH entries")
@blp.alt_response(415, description="Body not sent as application/json")
@blp.alt_response(422, description="Invalid entries, by column and row; nothing written")
def post_live(site_id: str):
    """Add live entries (column or row form)"""
    site = _site(site_id)
    payload = json_body()
    max_batch = stores().settings.max_batch
    rows = _entry_count(payload)
    if rows > max_batch:
        abort(413, f"At most {max_batch} entries per post (MAX_BATCH); got {rows}.")
    store = _store()
    cutoff_us = store.live_cutoff_us()
    tolerance = stores().settings.future_tolerance
    try:
        entries = load_live(payload, zone_from_name(site["timezone"]), cutoff_us,
                            (future_horizon_us(tolerance), tolerance))
    except ma.ValidationError as exc:
        abort(422, "Invalid live data; nothing was written.", errors={"json": exc.messages})
    if not entries:
        return {"accepted": 0, "duplicates": 0}
    accepted = store.add_live(site_id, entries, cutoff_us)
    return {"accepted": accepted, "duplicates": len(entries) - accepted}


@blp.route("/<site_id>/live/latest", methods=["GET"])
@requires("read")
@blp.response(200, LiveEntryOutSchema, description="The entry with the newest dt-stamp.")
@blp.alt_response(404, description="Unknown site, or no live data yet")
def get_live_latest(site_id: str):
    """A site's newest live entry (by time, not by arrival)"""
    entry = _store().latest_live(_checked_site_id(site_id))
    if entry is None:
        abort(404, f"The site {site_id!r} has no live data yet.")
    return entry


@blp.route("/<site_id>/live", methods=["GET"])
@requires("read")
@blp.arguments(LiveQuerySchema, location="query")
@blp.response(200, LivePageSchema, description="One page of entries with start <= dt-stamp < end, oldest first.")
@blp.alt_response(404, description="Unknown site")
def get_live(query: dict, site_id: str):
    """A site's live entries over a time range"""
    start = query["start"][0] if "start" in query else None
    if "cursor" in query:
        start = max(start or 0, int(query["cursor"]))
    end = query["end"][0] if "end" in query else None
    entries, next_us = _store().live_range(_checked_site_id(site_id), start, end, query["limit"])
    return {"entries": entries, "next_cursor": None if next_us is None else str(next_us)}
