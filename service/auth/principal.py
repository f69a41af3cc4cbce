"""Who is asking, and what they may see (see ``service.auth``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

from ..errors import abort
from .keyring import ALL_ORGS, ROLES

# The role each role's keys may act as. admin may do everything; read and
# ingest only their own thing (an ingest key cannot read statistics back).
GRANTS = {"ingest": frozenset({"ingest"}), "read": frozenset({"read"}), "admin": frozenset(ROLES)}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a key's role and org ("*" for all orgs)."""

    role: str
    org: str
    key_id: str | None = None
    rate_limit: int | None = None

    def allows(self, role: str) -> bool:
        return role in GRANTS[self.role]

    @property
    def all_orgs(self) -> bool:
        return self.org == ALL_ORGS

    @property
    def org_filter(self) -> str | None:
        """The only org this principal may see, or None for all orgs (for listings)."""
        return None if self.org == ALL_ORGS else self.org

    def can_access_org(self, org: str | None) -> bool:
        """True when resources of ``org`` are visible; resources of no org
        (None) are visible to all-orgs keys only."""
        return self.org == ALL_ORGS or (org is not None and org == self.org)


# Everyone is this principal while no key is configured (open mode).
OPEN = Principal(role="admin", org=ALL_ORGS)


def principal() -> Principal:
    """The principal of the current request (only views behind a role have one)."""
    try:
        return g.principal
    except AttributeError:
        raise RuntimeError("no principal: the view is public or exempt from access control") from None


def require_org(org: str | None, not_found_message: str) -> None:
    """404 unless the principal may see resources of ``org``.

    Pass the message the view gives for a resource that does not exist, so
    the answer for another org's resource is indistinguishable from it.
    """
    if not principal().can_access_org(org):
        abort(404, not_found_message)


def listing_org(asked: str | None) -> str | None:
    """The org a listing shows: for an all-orgs key the one asked for (None:
    all); for an org key its own org, and 404 when it asks for another
    (whether or not that org exists)."""
    who = principal()
    if who.all_orgs:
        return asked
    if asked is not None and asked != who.org:
        abort(404, f"No org {asked!r} for this API key.")
    return who.org


def assigned_org(data: dict) -> str | None:
    """The org a resource gets from the ``org`` of a body that creates or
    changes it. An all-orgs key gives the one sent (null or left out: no
    org). An org key's resources stay in its org: left out or its own is
    its own, another org is a 404 (as ``listing_org``), and null (no org,
    which an org key cannot reach) is a 422 naming ``org``."""
    who = principal()
    if who.all_orgs:
        return data.get("org")
    if "org" in data and data["org"] is None:
        abort(422, "Invalid org; nothing was written.", {"json": {"org": [
            f"An API key of org {who.org!r} keeps what it writes in its org: send {who.org!r} or leave org out."]}})
    return listing_org(data.get("org"))


def require_all_orgs() -> None:
    """403 unless the key reaches all orgs: for views that cannot yet show
    an org only its own part (cross-org overviews)."""
    if not principal().all_orgs:
        abort(403, 'This operation needs an API key for all orgs ("*").')
