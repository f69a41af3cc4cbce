"""History that lasts: per-sensor rollup tiers (ROLLUPS), answered with the
raw readings for any range, and exported."""

from flask import Flask

from .routes import blp


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
