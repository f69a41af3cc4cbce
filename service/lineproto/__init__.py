"""InfluxDB line protocol ingest: POST /api/v2/write and POST /write."""

from flask import Flask

from .routes import blp


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
