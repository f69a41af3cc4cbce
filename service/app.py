"""The application factory."""

from __future__ import annotations

import logging

from flask import Flask

from . import dashboard, events, heartbeats, ops, orgs, readings, rooms, sensors, sites, toohot, webhooks
from .auth import init_auth
from .errors import SensorhubApi, register_error_handlers
from .jsonio import OrjsonProvider
from .logs import configure_logging, init_request_logging
from .metrics import init_metrics
from .redis_client import redis_ext
from .settings import Settings
from .transport import BodyGate

# One module per domain; each registers its blueprint and its Redis store.
DOMAINS = (readings, ops, sensors, rooms, sites, orgs, toohot, events, heartbeats, webhooks, dashboard)


def create_app(settings: Settings | None = None, *, redis_client=None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.update(
        API_TITLE="sensorhub",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    app.extensions["settings"] = settings
    configure_logging(settings.log_level)
    register_extensions(app, settings, redis_client)
    api = SensorhubApi(app)
    register_error_handlers(app, api)
    # Request ids first, so 401/403/429 answers carry one; access control
    # before the domains, whose routes it documents as they register.
    init_request_logging(app, settings.log_requests)
    init_auth(app, api, settings)
    register_domains(app, api)
    init_metrics(app)
    app.wsgi_app = BodyGate(app.wsgi_app, max_bytes=settings.max_body_bytes, read_timeout=settings.body_timeout,
                            reads_per_client=settings.max_body_reads_per_client)
    logging.getLogger("sensorhub").debug("application created")
    return app


def register_extensions(app: Flask, settings: Settings, redis_client) -> None:
    redis_ext.init_app(app, settings, client=redis_client)


def register_domains(app: Flask, api: SensorhubApi) -> None:
    for domain in DOMAINS:
        domain.register(app, api)
