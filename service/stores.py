"""Every store of an app in one typed container, and the accessor routes use.

``create_app`` builds the stores once, in dependency order, each given what
it uses through its constructor (``service.app.build_stores``); routes reach
them with ``stores().readings`` and the like, never by a string per store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from redis import Redis
    from redis.cluster import RedisCluster

    from .auth.guard import AccessControl
    from .auth.sensors import SensorOrgs
    from .events.store import EventStore
    from .heartbeats.store import HeartbeatStore
    from .history.store import HistoryStore
    from .ops.store import WorkerPasses
    from .orgs.store import OrgStore
    from .readings.store import ReadingStore
    from .redisdb.scripts import Scripts
    from .rooms.store import RoomStore
    from .sensors.store import SensorRegistry
    from .settings import Settings
    from .sites.store import SiteStore
    from .toohot.store import TooHotStore
    from .webhooks.store import WebhookStore

# The one entry of ``app.extensions`` that sensorhub uses.
EXTENSION = "sensorhub"


@dataclass(frozen=True)
class Stores:
    """The settings, the Redis client and its scripts, and every store of one app."""

    settings: Settings
    client: Redis | RedisCluster
    scripts: Scripts
    access: AccessControl
    sensor_orgs: SensorOrgs
    events: EventStore
    heartbeats: HeartbeatStore
    history: HistoryStore
    readings: ReadingStore
    sensors: SensorRegistry
    rooms: RoomStore
    orgs: OrgStore
    sites: SiteStore
    toohot: TooHotStore
    webhooks: WebhookStore
    workers: WorkerPasses


def stores(app: Flask | None = None) -> Stores:
    """The stores of ``app``, by default of the app handling the request."""
    return (app if app is not None else current_app).extensions[EXTENSION]
