"""Access control: API keys with a role and an org scope, per-key rate limits.

Keys come from the settings (API_KEYS or API_KEYS_FILE). A hook that runs
before every request (``init_auth``) authenticates the key (401), applies
its rate limit (429), checks the role the view declares (403) and stores
the key's ``Principal`` for the view. Domains use it like this::

    from ..auth import principal, require_org, require_sensor, requires

    @blp.route("/v1/sites/<site_id>", methods=["GET"])
    @requires("read")                      # directly under @blp.route
    @blp.response(200, SiteSchema)
    def get_site(site_id):
        site = store.site(site_id) or abort(404, f"Unknown site {site_id}.")
        require_org(site["org"], f"Unknown site {site_id}.")   # same 404 as unknown
        ...

    listings: ``org = listing_org(query.get("org"))`` is the org filter to apply
    (None: all orgs; an org key always gets its own, 404 for another).

Roles: ``ingest`` (write readings, heartbeats), ``read``, ``admin``
(settings, deletes, webhooks; admin keys may also read and ingest). No key
configured: open mode, every request acts as an all-orgs admin. Exempt
always: /healthz, /livez, /metrics, /openapi.json, /docs, /static/...,
/dashboard/static/...; a
view marked ``@public`` is open too. A route that declares nothing needs
an admin key (tests/auth/test_policy.py lists such routes as failures).
"""

from .guard import init_auth, public, requires
from .keyring import ALL_ORGS, ROLES
from .principal import OPEN, Principal, assigned_org, listing_org, principal, require_all_orgs, require_org
from .sensors import (
    claim_sensors,
    refuse_foreign_sensors,
    require_sensor,
    require_sensor_writes,
    sensor_orgs,
    sites_of_taken_sensors,
)

__all__ = [
    "ALL_ORGS",
    "OPEN",
    "ROLES",
    "Principal",
    "assigned_org",
    "init_auth",
    "listing_org",
    "principal",
    "public",
    "require_all_orgs",
    "require_org",
    "require_sensor",
    "require_sensor_writes",
    "refuse_foreign_sensors",
    "claim_sensors",
    "requires",
    "sensor_orgs",
    "sites_of_taken_sensors",
]
