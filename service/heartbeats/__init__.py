"""Heartbeats domain: POST/GET /heartbeat, GET /sensors, offline detection."""

from flask import Flask

from .routes import blp


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
