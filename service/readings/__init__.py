"""Readings domain: POST /data, GET and DELETE /statistics/<sensor>."""

from flask import Flask

from .routes import blp
from .schemas import ReadingSchema


def register(app: Flask, api) -> None:
    api.spec.components.schema("Reading", schema=ReadingSchema)
    api.register_blueprint(blp)
