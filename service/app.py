"""The application factory."""

from __future__ import annotations

import logging

from flask import Flask

from . import (
    dashboard,
    events,
    heartbeats,
    history,
    lineproto,
    ops,
    orgs,
    readings,
    rooms,
    sensors,
    sites,
    toohot,
    webhooks,
)
from .apidocs import SWAGGER_UI_URL, register_explorer
from .auth import init_auth
from .auth.guard import AccessControl
from .auth.keyring import api_keys_of
from .auth.sensors import SensorOrgs
from .compression import init_compression
from .cors import init_cors
from .errors import SensorhubApi, register_error_handlers
from .events.store import EventStore
from .heartbeats.store import HeartbeatStore
from .history.store import HistoryStore
from .jsonio import OrjsonProvider, refuse_undeclared_query
from .logs import configure_logging, init_request_logging
from .metrics import init_metrics
from .ops.store import WorkerPasses
from .orgs.store import OrgStore
from .readings.store import ReadingStore
from .redisdb.connection import connect
from .redisdb.scripts import Scripts
from .rooms.store import RoomStore
from .sensors.store import SensorRegistry
from .settings import Settings
from .sites.store import SiteStore
from .stores import EXTENSION, Stores
from .toohot.store import TooHotStore
from .transport import BodyGate
from .webhooks.store import WebhookStore

# One module per domain; each registers its blueprint (its store is built by build_stores).
DOMAINS = (readings, lineproto, ops, sensors, history, rooms, sites, orgs, toohot, events, heartbeats, webhooks, dashboard)


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
        # Swagger UI's assets from the service itself (service/apidocs), none from the network.
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_URL,
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    configure_logging(settings.log_level)
    built = build_stores(settings, redis_client)
    app.extensions[EXTENSION] = built
    api = SensorhubApi(app)
    register_error_handlers(app, api)
    # Request ids first, so 401/403/429 answers carry one; CORS preflights
    # answered before access control (they carry no key); access control
    # before the domains, whose routes it documents as they register, and
    # before the query check, so that only a valid key learns what a route takes.
    requests = init_request_logging(app, settings.log_requests, settings.trusted_proxies)
    init_cors(app, settings.cors_origins)
    init_auth(app, api, built.access)
    refuse_undeclared_query(app)
    register_domains(app, api)
    register_explorer(app)
    init_metrics(app, settings.version)
    init_compression(app, settings)  # last: compresses what the other hooks finished
    app.wsgi_app = BodyGate(app.wsgi_app, max_bytes=settings.max_body_bytes, read_timeout=settings.body_timeout,
                            reads_per_client=settings.max_body_reads_per_client, request_log=requests)
    logging.getLogger("sensorhub").debug("application created")
    return app


def build_stores(settings: Settings, redis_client=None) -> Stores:
    """Every store, each given the client, its scripts, the settings and the
    stores it uses; a store is built after those it uses."""
    api_keys = api_keys_of(settings)  # unusable keys stop the start before Redis is reached
    client = redis_client if redis_client is not None else connect(settings)
    scripts = Scripts(client)
    events = EventStore(client, scripts, settings)
    heartbeats = HeartbeatStore(client, scripts, settings, events=events)
    history = HistoryStore(client, scripts, settings)
    readings = ReadingStore(client, scripts, settings, history=history)
    sensors = SensorRegistry(client, scripts, settings, heartbeats=heartbeats)
    orgs = OrgStore(client, scripts)
    sites = SiteStore(client, scripts, settings)
    return Stores(
        settings=settings,
        client=client,
        scripts=scripts,
        access=AccessControl(api_keys, scripts, settings.auth_failures_per_minute),
        sensor_orgs=SensorOrgs(client, scripts),
        events=events,
        heartbeats=heartbeats,
        history=history,
        readings=readings,
        sensors=sensors,
        rooms=RoomStore(client, settings, readings=readings, registry=sensors),
        orgs=orgs,
        sites=sites,
        toohot=TooHotStore(client, scripts, settings, sites=sites, orgs=orgs, readings=readings, events=events,
                             registry=sensors),
        webhooks=WebhookStore(client, scripts, settings, events=events),
        workers=WorkerPasses(client),
    )


def register_domains(app: Flask, api: SensorhubApi) -> None:
    for domain in DOMAINS:
        domain.register(app, api)
