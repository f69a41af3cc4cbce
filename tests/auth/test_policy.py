"""Every route of the application says who may call it."""

from service.auth.guard import undeclared_endpoints


def test_every_route_declares_a_role_or_is_exempt(app):
    # A route listed here needs an admin key until it declares its role with
    # @requires(...) (or @public): see "Access control" in docs/architecture.md.
    assert undeclared_endpoints(app) == []
