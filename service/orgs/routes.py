"""Org settings (default unit, time zone, too-hot threshold)."""

from __future__ import annotations

from ..auth import require_org, requires
from ..errors import abort
from ..fields import MSG_ORG_ID, is_sensor_id
from ..jsonio import Blueprint
from ..stores import stores
from .schemas import OrgPutSchema, OrgSchema

blp = Blueprint(
    "orgs",
    __name__,
    url_prefix="/v1/orgs",
    description="Org settings: default unit of its senders, time zone and too-hot threshold.",
)


def _checked_org_id(org_id: str) -> str:
    if not is_sensor_id(org_id):
        abort(400, f"Invalid org id: {MSG_ORG_ID}.")
    require_org(org_id, f"No org has the id {org_id!r}.")
    return org_id


@blp.route("/<org_id>", methods=["PUT"])
@requires("admin")
@blp.arguments(OrgPutSchema)
@blp.response(200, OrgSchema, description="The org's settings now")
@blp.alt_response(400, description="Not a valid org id; or the body empty, not JSON, or repeating a key")
@blp.alt_response(422, description="Invalid settings, listed by field; nothing written")
def put_org(data: dict, org_id: str):
    """Set an org's unit, time zone and threshold

    A field left out or null takes its default; an empty object is refused
    (422). Takes effect on the next reading (unit) and the next answer (time
    zone, threshold). Registered sensors of the org that declare no unit follow
    its new unit.
    """
    org, unit_changed = stores().orgs.put(_checked_org_id(org_id), data)
    if unit_changed:
        stores().sensors.refresh_org_unit(org_id)
    return org


@blp.route("/<org_id>", methods=["GET"])
@requires("read")
@blp.response(200, OrgSchema, description="The org's settings, defaults filled in")
@blp.alt_response(400, description="Not a valid org id")
@blp.alt_response(404, description="The org was never configured and owns no site")
def get_org(org_id: str):
    """An org's settings"""
    org = stores().orgs.get(_checked_org_id(org_id))
    if org is None:
        abort(404, f"No org has the id {org_id!r}.")
    return org
