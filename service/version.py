"""sensorhub's version (the default of SENSORHUB_VERSION)."""

__version__ = "1.0.0"
