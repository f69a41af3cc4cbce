"""Every setting of sensorhub, read from the environment in one place.

Each field documents its environment variable and default;
docs/configuration.md's table mirrors this module (a test holds them together). ``Settings.from_env()`` is called once
by the application factory; tests build ``Settings`` directly.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, tzinfo
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .version import __version__


class SettingsError(ValueError):
    """A setting in the environment has a value sensorhub cannot use."""


def _env_int(env, name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _env_float(env, name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw}")
    return value


def _env_bool(env, name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _env_networks(env, name: str) -> tuple:
    raw = env.get(name) or ""
    networks = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(f"{name} must be comma-separated CIDRs such as 10.0.0.0/8, got {part!r}") from None
    return tuple(networks)


def _env_zone(env, name: str) -> tzinfo | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    if raw.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name} must be an IANA time zone such as Europe/Brussels, got {raw!r}") from None


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|b|kb|mb|gb|tb)?\s*$", re.IGNORECASE)
MEMORY_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def parse_memory_limit(text: str) -> tuple[float, str]:
    """``(number, unit)`` of a share such as ``50%`` or a size such as ``512mb``."""
    match = _MEMORY.match(text)
    if not match:
        raise SettingsError(f"REDIS_MAXMEMORY must be a share such as 50% or a size such as 512mb, got {text!r}")
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    if unit == "%" and not 0 < number <= 100:
        raise SettingsError(f"REDIS_MAXMEMORY as a share must be above 0% and at most 100%, got {text!r}")
    if unit != "%" and number * MEMORY_UNITS[unit] < 1024**2:
        raise SettingsError(f"REDIS_MAXMEMORY must be at least 1mb, got {text!r}")
    return number, unit


@dataclass(frozen=True)
class Settings:
    # PORT: the HTTP port gunicorn binds (gunicorn.conf.py reads it).
    port: int = 8080
    # REDIS_URL: redis://, rediss:// or unix:// URL of the system of record.
    # Unset: `make run` and the container start an embedded redis-server.
    # A password in it (redis://:password@host:6379/0) is sent with AUTH;
    # kept out of repr and of every message (redis_server names the server).
    redis_url: str | None = field(default=None, repr=False)
    # REDIS_CLUSTER=1: REDIS_URL names any node of a Redis Cluster.
    redis_cluster: bool = False
    # REDIS_CONNECT_TIMEOUT / REDIS_TIMEOUT (seconds): fail fast with 503
    # instead of hanging when Redis is unreachable or slow.
    redis_connect_timeout: float = 1.0
    redis_timeout: float = 2.0
    # REDIS_MAX_CONNECTIONS: connection pool size per worker process; a request
    # finding all in use waits up to REDIS_TIMEOUT for one (then 503).
    redis_max_connections: int = 64
    # DATA_DIR: where the embedded redis-server keeps its append-only file.
    # One sensorhub at a time: a second one on the same directory exits.
    data_dir: str = "./data"
    # REDIS_MAXMEMORY: memory limit of the embedded redis-server, a share of
    # the container's (else the machine's) memory such as 50%, or a size
    # such as 512mb. Past it writes are refused (503), nothing is evicted.
    # An external Redis (REDIS_URL) is limited by its own configuration.
    redis_maxmemory: str = "50%"
    # REDIS_APPENDFSYNC: when the embedded redis-server syncs its append-only
    # file. "always" (the default): before it answers, so an acknowledged
    # reading survives even a kill or power loss. "everysec" may lose the
    # last second or two, even on a kill: Redis answers before writing the
    # AOF while a slow fsync is in progress.
    redis_appendfsync: str = "always"
    # DEDUP_TTL (seconds): a re-sent reading arriving within this long of the
    # first copy is recognised as a duplicate. Must exceed the 24 h lateness
    # sensors are allowed.
    dedup_ttl: int = 48 * 3600
    # BUCKET_SECONDS: span of one per-sensor bucket hash of readings. Small
    # enough that a bucket of a sensor reporting every minute stays in Redis'
    # compact hash encoding.
    bucket_seconds: int = 3600
    # FUTURE_TOLERANCE (seconds): how far past the server's clock a reading's
    # timestamp may lie; a later one is refused (a sender's clock is wrong,
    # and its reading would stay its sensor's latest until then). Room for
    # clock drift between sender and server, as Grafana Mimir's 10-minute
    # creation grace period for samples from the future.
    future_tolerance: int = 600
    # MAX_BATCH: most readings in one POST /data.
    max_batch: int = 10_000
    # INGEST_CONCURRENCY: batches (POST /data, line protocol) one web worker
    # process works on at once; more wait their turn, so reads keep a share
    # of the CPU under heavy ingest (at some cost to its rate). 0: no limit.
    ingest_concurrency: int = 0
    # MAX_BODY_BYTES: largest request body accepted (413 above).
    max_body_bytes: int = 4 * 1024 * 1024
    # AUTH_FAILURES_PER_MINUTE: API keys that are not valid one client address
    # may present a minute before every key from it is answered 429 for the
    # rest of the minute; ten times as many sharing one key prefix, from any
    # address, make further wrong keys with that prefix 429 (a valid key is
    # never refused for its prefix). 0 turns the throttle off.
    auth_failures_per_minute: int = 20
    # BODY_TIMEOUT (seconds): a request body must arrive whole within this
    # long (408 otherwise), so a slow sender holds a connection that long at most.
    body_timeout: float = 30.0
    # MAX_BODY_READS_PER_CLIENT: request bodies one client address may be
    # sending at once to one worker process; more are answered 429 at once.
    # 0 turns the limit off (behind a proxy that buffers bodies, whose
    # address every request would share).
    max_body_reads_per_client: int = 8
    # ASSUME_TZ: IANA zone for timestamps sent without an offset. Unset: such
    # timestamps are rejected, because their instant is ambiguous.
    assume_tz: tzinfo | None = None
    # LOG_LEVEL and LOG_REQUESTS (one JSON line per request).
    log_level: str = "INFO"
    log_requests: bool = True
    # TRUSTED_PROXIES: comma-separated CIDRs of the proxies in front of
    # sensorhub (an ingress controller, a load balancer). For a request from
    # one of them the client is the address it names in X-Forwarded-For (the
    # access log, the uploads and failed keys counted per client); from
    # anywhere else, X-Forwarded-For is ignored (anyone can send it).
    trusted_proxies: tuple = ()
    # RETENTION (seconds): how long raw readings stay queryable by time
    # windows and series (older ones still count in the running statistics).
    # Bucket hashes live max(DEDUP_TTL, RETENTION) after their last new reading.
    retention: int = 48 * 3600
    # ROLLUPS: the history tiers, finest first: bucket size and how long a
    # bucket is kept after it ends (``1h:400d,1d:3650d``: hourly buckets for
    # 400 days, daily ones, in UTC, for ten years). Each tier's buckets hold
    # count, exact sum, min, max, first and last reading of the sensor's
    # distinct readings; a coarser tier's size is a multiple of the finer's.
    # Empty: no history beyond RETENTION.
    rollups: tuple = ((3600, 400 * 86400), (86400, 3650 * 86400))
    # SERIES_CACHE_MB: per web process, series points of whole history
    # chunks rendered once and kept, checked against each chunk's version on
    # every use, and shared through Redis for a day (history/rendered.py);
    # 0 renders every series afresh and keeps nothing.
    series_cache_mb: int = 64
    # LIVE_RETENTION_DAYS: live entries of an energy site older than this
    # are dropped when the site next posts, and refused when posted. 0 keeps
    # every entry (about 8 MB of Redis per site-year at one entry per 10
    # minutes; bench/sites_live.py).
    live_retention_days: int = 0
    # -- browsers: CORS and compressed responses -----------------------------
    # CORS_ORIGINS: comma-separated origins (scheme://host[:port]) whose
    # pages may call the API from a browser, or * for any page (then never
    # with credentials). Unset: same-origin only, no CORS header at all.
    cors_origins: tuple = ()
    # COMPRESS_RESPONSES: compress JSON, CSV, NDJSON and text answers when
    # the client's Accept-Encoding allows (streamed exports as they stream).
    compress_responses: bool = True
    # COMPRESS_MIN_BYTES: answers smaller than this stay uncompressed (about
    # one TCP segment: below it compression saves no round trip).
    compress_min_bytes: int = 1400
    # COMPRESS_ALGORITHMS: codings offered, preferred first among those the
    # client accepts equally (zstd, br, gzip, deflate).
    compress_algorithms: str = "zstd,br,gzip"
    # -- heartbeats, offline detection, events, webhooks ---------------------
    # OFFLINE_AFTER (seconds): a sensor heard of neither by heartbeat nor by
    # reading for this long is offline (10 minutes by default).
    offline_after: float = 600.0
    # OFFLINE_CHECK_INTERVAL (seconds): how often a worker looks for sensors
    # that went silent or came back.
    offline_check_interval: float = 15.0
    # WORKER=1: `make run` starts one background worker next to the web
    # server (0: run `make worker` / the worker Deployment separately).
    worker: bool = True
    # WEBHOOK_TIMEOUT (seconds): connect and read timeout of one delivery.
    webhook_timeout: float = 5.0
    # WEBHOOK_MAX_ATTEMPTS: deliveries of one event to one webhook before it
    # goes to the dead-letter list.
    webhook_max_attempts: int = 8
    # WEBHOOK_RETRY_BASE / WEBHOOK_RETRY_MAX (seconds): attempt n waits
    # min(BASE * 2^(n-1), MAX) after failure n (exponential backoff).
    webhook_retry_base: float = 2.0
    webhook_retry_max: float = 600.0
    # WEBHOOK_ALLOW_PRIVATE=1: allow receivers on loopback, link-local and
    # private addresses (refused by default: no server-side request forgery).
    webhook_allow_private: bool = False
    # WEBHOOK_CONCURRENCY: deliveries one worker attempts at once (its pool
    # of delivery threads), over all webhooks; keep it well below
    # REDIS_MAX_CONNECTIONS (each thread may hold a connection).
    webhook_concurrency: int = 16
    # WEBHOOK_ENDPOINT_CONCURRENCY: deliveries to one webhook in flight at
    # once over all workers, so a receiver that hangs holds only this many
    # of the pool's threads and the others keep delivering.
    webhook_endpoint_concurrency: int = 4
    # WEBHOOK_CIRCUIT_FAILURES: consecutive failed attempts after which a
    # webhook's circuit opens: its deliveries wait, not attempted and not
    # counted as attempts, for WEBHOOK_CIRCUIT_COOLDOWN seconds; then one
    # trial delivery closes it (success) or opens it again (failure).
    webhook_circuit_failures: int = 5
    webhook_circuit_cooldown: float = 30.0
    # EVENTS_MAX: events the stream keeps (older ones are trimmed).
    events_max: int = 100_000
    # TOOHOT_RETENTION_DAYS: how many days after its end a site's local day
    # can still be asked about (GET /v1/admin/toohotornot?date=) and still
    # take late readings; its precomputed state then expires. At least 2:
    # readings may arrive 24 h late.
    toohot_retention_days: int = 3
    # API_KEYS: JSON {"<key>": {"role": "ingest"|"read"|"admin", "org": "<org id>"|"*",
    # "rate_limit": <requests per second, optional>}}; or API_KEYS_FILE: a file
    # holding that JSON. Neither set: open mode (no key asked, a warning at
    # start). Kept as text, never shown (repr=False); service.auth.keyring
    # parses it at start into digests (api_keys_of).
    api_keys_text: str | None = field(default=None, repr=False)
    # REQUIRE_API_KEYS=1: refuse to start without at least one API key
    # (the Kubernetes manifest sets it), unless ALLOW_OPEN_API=1 says the
    # open mode is meant.
    require_api_keys: bool = False
    allow_open_api: bool = False
    # REDIS_WAIT_REPLICAS: after the writes of a request, WAIT until this many
    # replicas of each written Redis node acknowledged them (0: don't wait).
    # Fewer acknowledgements within REDIS_WAIT_TIMEOUT_MS answer 503 (the
    # write may be lost by a failover; the client's retry is harmless).
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 500
    # -- MQTT bridge (python -m service.mqtt) ---------------------------------
    # MQTT_URL: mqtt://[user:password@]host[:1883] or mqtts://...[:8883] (TLS,
    # the system's CAs) of the broker the bridge subscribes to. Kept as text,
    # never shown (repr=False): it may carry a password.
    mqtt_url: str | None = field(default=None, repr=False)
    # MQTT_TOPICS: comma-separated topic filters the bridge subscribes to
    # (QoS 1). A message's topic ending in /data carries a POST /data batch;
    # any other names the sensor in its last level (sensorhub/<sensor>).
    mqtt_topics: str = "sensorhub/+"
    # MQTT_DEAD_LETTER_TOPIC: where a message that cannot be stored is
    # published (QoS 1) with the reason, before it is acknowledged.
    mqtt_dead_letter_topic: str = "sensorhub/dead-letter"
    # MQTT_CLIENT_ID: the bridge's client id, which names its persistent
    # session on the broker (unacknowledged messages are sent again to the
    # next bridge with this id); one bridge per id.
    mqtt_client_id: str = "sensorhub-mqtt"
    # MQTT_BATCH_SIZE: most messages written to Redis in one ingest; the
    # bridge lets the broker send twice as many unacknowledged (Receive Maximum).
    mqtt_batch_size: int = 500
    # MQTT_FLUSH_INTERVAL (seconds): longest a received message waits for
    # its batch to fill before the batch is written.
    mqtt_flush_interval: float = 0.01
    # MQTT_METRICS_PORT: the bridge's Prometheus /metrics port (0: none).
    mqtt_metrics_port: int = 9108
    # -- background worker (python -m service.worker) -------------------------
    # WORKER_PORT: the worker's own HTTP port: /livez, /readyz, /metrics (0: none).
    worker_port: int = 9100
    # -- observability --------------------------------------------------------
    # SENSORHUB_VERSION: the version label of sensorhub_build_info (the
    # image's tag, say); default the package's version.
    version: str = __version__
    # REDIS_COMMAND_METRICS=0: Redis round trips are not timed or counted
    # (sensorhub_redis_command_seconds, sensorhub_redis_errors_total).
    redis_command_metrics: bool = True

    @classmethod
    def from_env(cls, env=None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            port=_env_int(env, "PORT", 8080, minimum=1),
            redis_url=env.get("REDIS_URL") or None,
            redis_cluster=_env_bool(env, "REDIS_CLUSTER", False),
            redis_connect_timeout=_env_float(env, "REDIS_CONNECT_TIMEOUT", 1.0, minimum=0.01),
            redis_timeout=_env_float(env, "REDIS_TIMEOUT", 2.0, minimum=0.01),
            redis_max_connections=_env_int(env, "REDIS_MAX_CONNECTIONS", 64, minimum=1),
            data_dir=env.get("DATA_DIR") or "./data",
            redis_maxmemory=env.get("REDIS_MAXMEMORY") or "50%",
            redis_appendfsync=env.get("REDIS_APPENDFSYNC") or "always",
            dedup_ttl=_env_int(env, "DEDUP_TTL", 48 * 3600, minimum=60),
            bucket_seconds=_env_int(env, "BUCKET_SECONDS", 3600, minimum=60),
            max_batch=_env_int(env, "MAX_BATCH", 10_000, minimum=1),
            future_tolerance=_env_int(env, "FUTURE_TOLERANCE", 600),
            ingest_concurrency=_env_int(env, "INGEST_CONCURRENCY", 0),
            max_body_bytes=_env_int(env, "MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024),
            auth_failures_per_minute=_env_int(env, "AUTH_FAILURES_PER_MINUTE", 20),
            body_timeout=_env_float(env, "BODY_TIMEOUT", 30.0, minimum=0.1),
            max_body_reads_per_client=_env_int(env, "MAX_BODY_READS_PER_CLIENT", 8),
            assume_tz=_env_zone(env, "ASSUME_TZ"),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_requests=_env_bool(env, "LOG_REQUESTS", True),
            trusted_proxies=_env_networks(env, "TRUSTED_PROXIES"),
            retention=_env_int(env, "RETENTION", 48 * 3600, minimum=60),
            live_retention_days=_env_int(env, "LIVE_RETENTION_DAYS", 0),
            rollups=_env_rollups(env, "ROLLUPS", "1h:400d,1d:3650d"),
            series_cache_mb=_env_int(env, "SERIES_CACHE_MB", 64),
            cors_origins=_env_origins(env, "CORS_ORIGINS"),
            compress_responses=_env_bool(env, "COMPRESS_RESPONSES", True),
            compress_min_bytes=_env_int(env, "COMPRESS_MIN_BYTES", 1400),
            compress_algorithms=(env.get("COMPRESS_ALGORITHMS") or "zstd,br,gzip").replace(" ", ""),
            offline_after=_env_float(env, "OFFLINE_AFTER", 600.0, minimum=0.1),
            offline_check_interval=_env_float(env, "OFFLINE_CHECK_INTERVAL", 15.0, minimum=0.05),
            worker=_env_bool(env, "WORKER", True),
            webhook_timeout=_env_float(env, "WEBHOOK_TIMEOUT", 5.0, minimum=0.05),
            webhook_max_attempts=_env_int(env, "WEBHOOK_MAX_ATTEMPTS", 8, minimum=1),
            webhook_retry_base=_env_float(env, "WEBHOOK_RETRY_BASE", 2.0, minimum=0.01),
            webhook_retry_max=_env_float(env, "WEBHOOK_RETRY_MAX", 600.0, minimum=0.01),
            webhook_allow_private=_env_bool(env, "WEBHOOK_ALLOW_PRIVATE", False),
            webhook_concurrency=_env_int(env, "WEBHOOK_CONCURRENCY", 16, minimum=1),
            webhook_endpoint_concurrency=_env_int(env, "WEBHOOK_ENDPOINT_CONCURRENCY", 4, minimum=1),
            webhook_circuit_failures=_env_int(env, "WEBHOOK_CIRCUIT_FAILURES", 5, minimum=1),
            webhook_circuit_cooldown=_env_float(env, "WEBHOOK_CIRCUIT_COOLDOWN", 30.0, minimum=0.01),
            events_max=_env_int(env, "EVENTS_MAX", 100_000, minimum=100),
            toohot_retention_days=_env_int(env, "TOOHOT_RETENTION_DAYS", 3, minimum=2),
            api_keys_text=_env_api_keys_text(env),
            require_api_keys=_env_bool(env, "REQUIRE_API_KEYS", False),
            allow_open_api=_env_bool(env, "ALLOW_OPEN_API", False),
            redis_wait_replicas=_env_int(env, "REDIS_WAIT_REPLICAS", 0),
            redis_wait_timeout_ms=_env_int(env, "REDIS_WAIT_TIMEOUT_MS", 500, minimum=1),
            mqtt_url=env.get("MQTT_URL") or None,
            mqtt_topics=env.get("MQTT_TOPICS") or "sensorhub/+",
            mqtt_dead_letter_topic=env.get("MQTT_DEAD_LETTER_TOPIC") or "sensorhub/dead-letter",
            mqtt_client_id=env.get("MQTT_CLIENT_ID") or "sensorhub-mqtt",
            mqtt_batch_size=_env_int(env, "MQTT_BATCH_SIZE", 500, minimum=1),
            mqtt_flush_interval=_env_float(env, "MQTT_FLUSH_INTERVAL", 0.01),
            mqtt_metrics_port=_env_int(env, "MQTT_METRICS_PORT", 9108),
            worker_port=_env_int(env, "WORKER_PORT", 9100),
            version=env.get("SENSORHUB_VERSION") or __version__,
            redis_command_metrics=_env_bool(env, "REDIS_COMMAND_METRICS", True),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        parse_memory_limit(self.redis_maxmemory)
        if self.redis_appendfsync not in ("always", "everysec"):
            raise SettingsError(f"REDIS_APPENDFSYNC must be always or everysec, got {self.redis_appendfsync!r}")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("REDIS_URL must start with redis://, rediss:// or unix://")
        if self.dedup_ttl <= 24 * 3600:
            raise SettingsError("DEDUP_TTL must exceed 86400 s: readings may arrive up to 24 h late")
        if self.bucket_seconds > 86400 or 86400 % self.bucket_seconds:
            raise SettingsError("BUCKET_SECONDS must divide a day (e.g. 900, 1800, 3600)")
        if self.redis_wait_replicas and self.redis_wait_timeout_ms >= self.redis_timeout * 1000:
            raise SettingsError("REDIS_WAIT_TIMEOUT_MS must be below REDIS_TIMEOUT, or the WAIT itself times out")
        if self.mqtt_url is not None and not self.mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise SettingsError("MQTT_URL must start with mqtt:// or mqtts://")
        if any(not topic or "#" in topic[:-1] for topic in self.mqtt_topic_filters):
            raise SettingsError(f"MQTT_TOPICS must be comma-separated MQTT topic filters, got {self.mqtt_topics!r}")
        if not self.mqtt_dead_letter_topic or any(c in self.mqtt_dead_letter_topic for c in "+#"):
            raise SettingsError("MQTT_DEAD_LETTER_TOPIC must be a topic name (no + or #)")
        if not self.compress_codings or set(self.compress_codings) - set(COMPRESS_CODINGS):
            raise SettingsError(
                f"COMPRESS_ALGORITHMS must be a comma-separated list of {', '.join(COMPRESS_CODINGS)}, "
                f"got {self.compress_algorithms!r}")
        if self.mqtt_batch_size > MQTT_MAX_BATCH:
            raise SettingsError(f"MQTT_BATCH_SIZE must be at most {MQTT_MAX_BATCH}")

    @property
    def redis_server(self) -> str:
        """host:port (or the socket path) of REDIS_URL, for messages: never the password."""
        if not self.redis_url:
            return "embedded redis-server"
        url = urlsplit(self.redis_url)
        if url.scheme == "unix":
            return url.path
        try:
            port = url.port or 6379
        except ValueError:
            port = "?"
        return f"{url.hostname}:{port}"

    @property
    def mqtt_topic_filters(self) -> tuple[str, ...]:
        return tuple(topic.strip() for topic in self.mqtt_topics.split(","))

    @property
    def compress_codings(self) -> tuple[str, ...]:
        return tuple(coding for coding in self.compress_algorithms.split(",") if coding)

    def replace(self, **changes) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


# Content codings flask-compress can produce.
COMPRESS_CODINGS = ("zstd", "br", "gzip", "deflate")
ANY_ORIGIN = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(text: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (lower
    case, no path, no trailing slash); SettingsError otherwise."""
    wrong = SettingsError(f"CORS_ORIGINS: {text!r} is not an origin such as https://dashboard.example.com:8443 "
                          f"(scheme://host[:port], no path), nor *")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise wrong from None
    if (not re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme) or not parts.hostname or parts.username is not None
            or parts.password is not None or parts.path or parts.query or parts.fragment or "#" in text
            or "?" in text or text.endswith(":")):
        raise wrong
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    # Browsers leave a scheme's default port out of Origin.
    if port is None or _DEFAULT_PORTS.get(parts.scheme) == port:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def parse_origins(text: str) -> tuple[str, ...]:
    """CORS_ORIGINS text -> its origins, or (ANY_ORIGIN,); () when empty."""
    origins = tuple(part.strip() for part in text.split(",") if part.strip())
    if ANY_ORIGIN in origins:
        if len(origins) > 1:
            raise SettingsError("CORS_ORIGINS: * allows every origin; list origins or give * alone")
        return origins
    return tuple(dict.fromkeys(parse_origin(origin) for origin in origins))


def _env_origins(env, name: str) -> tuple[str, ...]:
    return parse_origins(env.get(name) or "")


# Twice a batch is the Receive Maximum the bridge announces, at most 65535 in MQTT 5.
MQTT_MAX_BATCH = 32767

_DURATION = re.compile(r"([1-9][0-9]{0,6})([mhdw])").fullmatch
_DURATION_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Tiers a sensor's history may have: each is a key per chunk of buckets.
MAX_ROLLUP_TIERS = 4


def _rollup_duration(text: str, what: str) -> int:
    match = _DURATION(text.strip())
    if not match:
        raise SettingsError(f"ROLLUPS: {what} {text!r} is not a duration such as 15m, 1h, 1d or 2w")
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def parse_rollups(text: str) -> tuple:
    """ROLLUPS text -> ((bucket seconds, keep seconds), ...), finest first;
    SettingsError naming what is wrong."""
    if not text.strip():
        return ()
    tiers = []
    for part in text.split(","):
        size_text, colon, keep_text = part.strip().partition(":")
        if not colon:
            raise SettingsError(f"ROLLUPS: {part.strip()!r} is not <bucket>:<kept>, e.g. 1h:400d")
        size, keep = _rollup_duration(size_text, "bucket"), _rollup_duration(keep_text, "kept")
        if size < 60 or (size < 86400 and 86400 % size) or (size >= 86400 and size % 86400):
            raise SettingsError(f"ROLLUPS: a bucket of {size_text} neither divides a day nor is whole days")
        if keep < size:
            raise SettingsError(f"ROLLUPS: {part.strip()!r} keeps its buckets for less than one bucket")
        if tiers:
            finer, finer_keep = tiers[-1]
            if size <= finer or size % finer:
                raise SettingsError(f"ROLLUPS: each tier's bucket must be a multiple of the finer one's ({part.strip()!r})")
            if keep <= finer_keep:
                raise SettingsError(f"ROLLUPS: a coarser tier must be kept longer than the finer one ({part.strip()!r})")
        tiers.append((size, keep))
    if len(tiers) > MAX_ROLLUP_TIERS:
        raise SettingsError(f"ROLLUPS: at most {MAX_ROLLUP_TIERS} tiers")
    return tuple(tiers)


def _env_rollups(env, name: str, default: str) -> tuple:
    raw = env.get(name)
    return parse_rollups(default if raw is None else raw)


def _env_api_keys_text(env) -> str | None:
    """The JSON of API_KEYS, or of the file API_KEYS_FILE names; None when neither is set.

    Its errors, like the parser's (service.auth.keyring), never carry the
    text: raised ``from None`` (which also marks them as having no cause
    to show), so no traceback shows it."""
    text = env.get("API_KEYS") or None
    path = env.get("API_KEYS_FILE") or None
    if text is not None and path is not None:
        raise SettingsError("set API_KEYS or API_KEYS_FILE, not both") from None
    if path is not None:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"API_KEYS_FILE {path!r} cannot be read: {exc.__class__.__name__}") from None
        if not text.strip():
            raise SettingsError(f"API_KEYS_FILE {path!r} is empty") from None
    return text
