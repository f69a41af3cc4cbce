"""Too hot or not: POST /v1/temperatures and
GET /v1/admin/toohotornot, answered from state precomputed at ingest."""

from flask import Flask

from .routes import blp
from .schemas import TemperatureSchema


def register(app: Flask, api) -> None:
    api.spec.components.schema("Temperature", schema=TemperatureSchema)
    api.register_blueprint(blp)
