"""Readings domain: POST /data, GET and DELETE /statistics/<sensor>."""

from flask import Flask

from ..fields import ReadingSchema
from .routes import blp


def register(app: Flask, api) -> None:
    api.spec.components.schema("Reading", schema=ReadingSchema)
    api.register_blueprint(blp)
