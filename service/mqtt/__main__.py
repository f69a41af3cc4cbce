"""``python -m service.mqtt``: the MQTT bridge until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys

from prometheus_client import CollectorRegistry, start_http_server

from ..app import build_stores
from ..logs import configure_logging
from ..metrics import MQTT_MESSAGES, READINGS, READINGS_EXPIRED
from ..redisdb.connection import refuse_start_on_refused_credentials
from ..settings import Settings
from .bridge import Bridge


def main() -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if not settings.mqtt_url:
        print("MQTT_URL is not set: the bridge needs a broker, e.g. mqtt://broker:1883", file=sys.stderr)
        return 2
    if settings.redis_url and refuse_start_on_refused_credentials(settings, logging.getLogger("sensorhub.mqtt")):
        return 1
    built = build_stores(settings)
    bridge = Bridge(settings, built.readings, built.sensors)
    if settings.mqtt_metrics_port:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(MQTT_MESSAGES)
        registry.register(READINGS)
        registry.register(READINGS_EXPIRED)
        start_http_server(settings.mqtt_metrics_port, registry=registry)

    def request_stop(signum, frame):
        bridge.stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    bridge.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
