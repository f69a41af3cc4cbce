"""Sensors domain: registry (PUT/GET /v1/sensors), listings, windows and series."""

from flask import Flask

from .routes import blp
from .store import SensorRegistry


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
    app.extensions["sensors"] = SensorRegistry(app, app.extensions["settings"])
