"""Sites domain (energy sites, and the offices of too hot or not): site
metadata, versioned configuration and live data under /v1/sites."""

from flask import Flask

from .routes import blp
from .schemas import LiveColumnsSchema, LiveEntrySchema


def register(app: Flask, api) -> None:
    api.spec.components.schema("LiveColumns", schema=LiveColumnsSchema)
    api.spec.components.schema("LiveEntry", schema=LiveEntrySchema)
    api.register_blueprint(blp)
