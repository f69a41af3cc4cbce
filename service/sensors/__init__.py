"""Sensors domain: registry (PUT/GET /v1/sensors), listings, windows and series."""

from flask import Flask

from .routes import blp


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
