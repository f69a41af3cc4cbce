"""Heartbeats domain: POST/GET /heartbeat, GET /sensors, offline detection."""

from flask import Flask

from .routes import blp
from .store import HeartbeatStore


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
    app.extensions["heartbeats"] = HeartbeatStore(app, app.extensions["settings"], app.extensions["events"])
