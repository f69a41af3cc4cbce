"""sensorhub: exact sensor telemetry on Redis."""

from .app import create_app

__all__ = ["create_app"]
