"""Events domain: the exactly-once event stream and GET /v1/events."""

from flask import Flask

from .routes import blp


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
