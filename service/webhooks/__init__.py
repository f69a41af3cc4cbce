"""Webhooks domain: registrations, delivery and dead letters."""

from flask import Flask

from .routes import blp


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
