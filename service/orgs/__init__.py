"""Orgs domain: an org's default unit, time zone and too-hot
threshold under /v1/orgs."""

from flask import Flask

from .routes import blp
from .store import OrgStore


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
    app.extensions["orgs"] = OrgStore(app)
