"""Rooms domain: room temperatures and their trailing average."""

from flask import Flask

from .routes import blp
from .schemas import RoomReadingSchema


def register(app: Flask, api) -> None:
    api.spec.components.schema("RoomReading", schema=RoomReadingSchema)
    api.register_blueprint(blp)
