"""Webhooks domain: registrations, delivery and dead letters."""

from flask import Flask

from .routes import blp
from .store import WebhookStore


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
    app.extensions["webhooks"] = WebhookStore(app, app.extensions["settings"])
