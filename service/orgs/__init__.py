"""Orgs domain: an org's default unit, time zone and too-hot
threshold under /v1/orgs."""

from flask import Flask

from .routes import blp


def register(app: Flask, api) -> None:
    api.register_blueprint(blp)
