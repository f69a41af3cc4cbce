"""The one place that knows sensorhub's Redis key layout.

Everything about one sensor lives under keys sharing the hash tag
``{<sensor id>}``, so a Lua script can update a sensor atomically and the
same script runs unchanged on Redis Cluster (all its keys in one slot).

Sensor keys (tag = sensor id):

``sensor:{id}``
    hash of running statistics: ``gen`` (clear generation), ``count``,
    ``exact`` (the exact sum of the values, packed: ``service.exactsum``;
    a ``sum`` of one double written before it migrates on the next new
    reading), ``last_us`` (latest reading instant, microseconds since the
    epoch), ``last_iso`` (that instant as it was sent, offset kept) and
    ``last_value`` (the value of that reading).
``sensor:{id}:r:<gen>:<bucket>``
    hash of the sensor's distinct readings whose instant falls in bucket
    ``floor(us / BUCKET_SECONDS·10⁶)``: field = microseconds into the
    bucket, value = reading value. It is both the dedup memory (HSETNX) and
    the raw window store. Its TTL is refreshed to DEDUP_TTL on every new
    reading, so every remembered reading is kept at least DEDUP_TTL after
    its arrival and memory is bounded. Bucket keys are derived inside Lua
    from the declared ``sensor:{id}`` key (same tag, same slot); ``gen``
    makes DELETE O(1): a clear bumps it and the old buckets expire.

``sensor:{id}:h:<tier seconds>:<gen>:<chunk>``
    the sensor's history (``service.history``): hash of the buckets of one
    ROLLUPS tier in one chunk of ROLLUP_CHUNK buckets, field = bucket number
    within the chunk, value = the bucket packed (``history/rollup.lua``:
    count, exact sum, min, max, first and last reading, in about 25 bytes).
    A bucket hash of readings whose readings are all in the tiers has the
    field ``rolled``; a new reading landing in it goes into the tiers in
    the ingest call that accepts it. Bucket hashes around now (ended less
    than ``history.store.DEFER_SECONDS`` ago, or the next one) are rolled
    up whole by the background worker once that time has passed
    (``seal.lua``), one merge per sensor-hour instead of one per request;
    until then they have no TTL and the statistics field ``unsealed``
    points the worker at them. A bucket hash written before history
    existed is rolled up by the worker's backfill. Chunks expire when their
    last bucket is older than the tier keeps; ``gen`` makes DELETE O(1), as
    for readings, and the worker reclaims a cleared generation's chunks
    early (``history:reclaim``).

Cross-sensor keys (no tag; each is one key, so one slot on a cluster):

``sensors:seen``
    sorted set of every sensor id, scored by when sensorhub last heard of it
    (server time, seconds since the epoch); updated by every ingest call.
    It lists all sensors, registered or not, and drives offline detection.
``history:sealed``
    hash of the worker's sealing: ``horizon`` (a bucket number of
    BUCKET_SECONDS: every bucket hash of readings numbered below it, of every
    sensor heard since, is rolled up); its bucket's start is where queries
    switch from the tiers to the raw readings.
``history:backfilled`` / ``history:backfill`` / ``history:reclaim``
    set once every bucket hash of readings written before history existed
    is rolled up (the backfill loop then stops; ingest never needs it: it
    leaves an unmarked bucket hash outside the deferred zone alone, and the
    backfill rolls it up whole); the worker's scan position meanwhile (hash:
    one SCAN cursor per node, field = the node's ``host:port`` on a
    cluster, ``cursor`` on a single Redis, value ``done`` once that node's
    scan ended; ``rolled`` = bucket hashes rolled up so far); the set of
    ``<sensor> <gen>`` whose history tiers a DELETE orphaned (added by
    ``ReadingStore.clear`` after ``clear.lua`` answers the old gen). The
    worker UNLINKs each member's chunks, which are computable: for each
    tier, chunk numbers from ``(now - keep) / chunk`` minus one to ``now /
    chunk`` plus one (chunk = ROLLUP_CHUNK buckets), then removes the
    member. DELETE itself stays O(1).
``sensors:ids``
    sorted set of every sensor id heard of or registered, all scored 0, so
    in id order: ``GET /v1/sensors`` pages it with ``ZRANGEBYLEX``. Written
    (``ZADD NX``) beside ``sensors:seen`` by every ingest call and
    heartbeat, and at registration. For data written before it existed the
    background worker fills it from ``sensors:seen`` and
    ``sensors:registered`` (scan position in the hash ``sensors:ids:fill``),
    then sets ``sensors:ids:complete``; until then listings read every id.

Site keys (tag = site id; energy sites and the offices of too hot or not):

``site:{id}``
    hash of the site record: ``id``, ``name``, ``location``, ``created_at``,
    ``updated_at`` and, when set, ``org``, ``timezone`` (IANA name) and
    ``threshold`` (degrees Celsius); plus ``config_version`` and
    ``config_doc`` (canonical JSON of the current configuration), which
    the configuration script compares a new document against.
``site:{id}:config``
    list of every configuration version, oldest first; each item is the
    JSON ``{"version", "valid_from", "valid_from_us", "configuration"}``.
    Versions change every few years, so the list stays tiny.
``site:{id}:live``
    sorted set of the site's live entries: score = instant of ``dt-stamp``
    (microseconds since the epoch), member = the entry as compact JSON.
    One member per instant: the live script adds an entry only when no
    member has its score yet, so a re-sent timestamp is a duplicate.

Cross-site indexes (one key each; written before the site record changes
and checked against the record on read, so a stale entry is harmless):

``sites:all``
    sorted set of every site id, all scores 0 (ordered by id, which is
    what cursor pagination walks with ZRANGEBYLEX).
``sites:org:<org>`` / ``sites:location:<location>``
    the same, for the sites of one org / one location.

Site ids use the sensor-id charset, so they cannot break out of their tag.
Heartbeats, status and events:

``sensor:{id}:hb``
    hash of a sensor's liveness: ``status`` (online/offline, as last
    claimed), ``since`` (when it took that status), ``heard_at`` (last
    heard when it went offline), ``last_hb`` (last heartbeat, server
    seconds), ``mac`` (normalised MAC address), ``seq`` (transitions so far).
``sensor:{id}:outbox``
    list of the sensor's transition events (JSON) claimed but not yet in
    the event stream. The claim and the outbox write happen in one script
    (same tag); publishing drains it, so a process dying in between loses
    nothing: the next check of that sensor publishes it.
``sensor:{id}:meta``
    the registry's metadata of the sensor (org, site, building, room, unit,
    ...), read here when present.

Event and webhook keys share the tag ``{events}`` (one slot), so that
publishing, fan-out, leases and dead letters are each one atomic script:

``{events}:stream``
    the Redis Stream of events, trimmed to about EVENTS_MAX entries; fields
    ``type``, ``subject``, ``org``, ``event`` (the JSON delivered).
``{events}:published``
    sorted set of event ids already in the stream, scored by publish time:
    makes publishing idempotent (trimmed after a week).
``{events}:offline``
    sorted set of sensors whose offline event is published, scored by when
    they were last heard: the worker's back-online watch list.
``{events}:watermark``
    sorted set holding the offline scan's progress (member ``offline``):
    every sensor last heard at or before it has been checked.
``{events}:webhooks``
    hash webhook id -> JSON registration (url, secret, org, types).
``{events}:deliveries``
    sorted set of pending deliveries ``<webhook id>:<stream id>`` scored by
    when they are due (or when their current attempt's lease ends).
``{events}:attempts``
    hash delivery -> failed attempts so far.
``{events}:queue:<webhook id>`` / ``{events}:ready``
    the webhook's pending deliveries, scored as in ``{events}:deliveries``
    (kept in step by every script that writes it), and the webhooks with
    pending deliveries scored by their earliest: what a lease goes through,
    webhook by webhook, so one webhook's backlog never hides another's.
``{events}:since``
    hash delivery -> when it became pending (fan-out or replay): its age,
    after which a delivery held back by an open circuit is a dead letter.
``{events}:inflight:<webhook id>``
    sorted set of the webhook's leased deliveries scored by lease end: its
    deliveries in flight, held to WEBHOOK_ENDPOINT_CONCURRENCY.
``{events}:circuit:<webhook id>``
    hash of the webhook's circuit breaker: ``failures`` (consecutive),
    ``open_until`` (s; present once open) and ``error`` (the last one).
``{events}:dead`` / ``{events}:dead:index``
    dead letters: hash delivery -> JSON (event, webhook, attempts, last
    error, the event's org) and its order by failure time.
``{events}:dead:index:<org>``
    the same order for the dead letters of one org's webhooks (what an org's
    API keys list; an all-orgs webhook's are in none). Dead letters are
    ``<webhook id>:<stream id>`` like deliveries: a webhook's are found by
    ``webhook_dead_letters_pattern`` when it is deleted.

Sensor registry, time windows, buildings and rooms:

``sensor:{id}:meta``
    hash of a registered sensor's metadata: ``org``, ``site``, ``building``,
    ``room``, ``kind``, ``unit`` (as declared), ``mac``, ``name``,
    ``registered`` / ``updated`` (ISO instants) and ``input_unit``: the unit
    of readings sent without one (the sensor's unit, else its org's, else its
    kind's default), resolved at registration so that ingest reads one hash
    of the sensor's own tag and nothing else.
``sensors:registered``
    set of every registered sensor id.
``sensors:org:<org>``, ``sensors:site:<site>``, ``sensors:building:<b>``,
``sensors:room:<b>:<r>``, ``sensors:kind:<kind>``
    sets of sensor ids, written at registration (never by ingest). Readers
    check each candidate's metadata, so an entry left behind by a racing
    update never leaks into an answer.
``sensors:mac``
    hash MAC address -> sensor id (one sensor per MAC).
``org:{<org>}``
    hash of an org's settings; ``unit`` is the default input unit of its
    sensors (written by the org settings; read at sensor registration).

Building and room ids are 1 to 60 characters of ``A-Z a-z 0-9 _ -`` (no
``.`` or ``:``), so ``sensors:room:<b>:<r>`` and a room's default sensor id
``room.<b>.<r>`` are unambiguous. Rooms are per org: a sensor of org ``o``
is in ``sensors:room:<b>:<r>:org:<o>``, and an org room's default sensor
is ``room.<o>.<b>.<r>`` (read from the right: still unambiguous); the keys
without an org are the rooms of no org (all-orgs keys).

Too hot or not (tag = site id, so one script updates a site-day):

``site:{id}:day:<YYYY-MM-DD>``
    hash of one local day of a site (the site's time zone): ``readings``
    (distinct readings), ``max`` (highest °C) and ``max_at`` (its instant,
    microseconds after the local midnight; the earliest on a tie); once the
    day's maximum went above the threshold in force at an ingest,
    ``hot_max`` and ``hot_threshold`` (°C, as then: the ``site.too_hot``
    event's content) and, once that event is published, ``hot_published``.
    ``answer.lua`` derives the day keys from ``site:{id}`` (same tag).
``site:{id}:day:<YYYY-MM-DD>:minutes``
    sorted set member = minute of the local day, score = highest °C in that
    minute (ZADD GT): at most 1,500 members, and ``minutesAbove`` for any
    threshold is one ZCOUNT.
``site:{id}:day:<YYYY-MM-DD>:seen:<sensor>``
    bitmap of the whole seconds of the day at which ``sensor`` has a reading
    (dedup memory, at most 90,000 bits per sensor-day); readings with a fraction of a
    second go to ``site:{id}:day:<YYYY-MM-DD>:seenf``, a set of
    ``"<sensor> <microseconds after midnight>"``.
    All four keys expire TOOHOT_RETENTION_DAYS after the end of the day.

``org:{<org>}`` also holds the org's ``timezone`` (IANA name) and
``threshold`` (°C), written by ``PUT /v1/orgs/<org>``.
Access control keys:

``sensor:{id}:meta``
    hash of a sensor's registered metadata (the sensor registry owns it);
    access control reads and sets only its field ``org``, the org the
    sensor belongs to. An org-scoped ingest key claims a sensor of no org on
    its first write (HSETNX of ``org``).
``ratelimit:{<key id>}``
    request counter of one API key in the current one-second window (INCR,
    1 s expiry). The key id is a prefix of the SHA-256 of the API key: the
    key itself never reaches Redis.
``authfail:{addr:<client address>}``, ``authfail:{prefix:<hash>}``
    failed key guesses in the current one-minute window from one client
    address, and with one presented-key prefix (by a hash of its first
    characters, never the text), as counted by access control's throttle.
``org:{<org>}`` also holds the org's ``timezone`` (IANA name),
``threshold`` (°C) and ``version`` (incremented by every
``PUT /v1/orgs/<org>``).

``site:{id}`` of a site with an org also holds a copy of its org's
settings: ``org_copy`` (the org copied), ``org_version``, ``org_unit``,
``org_timezone``, ``org_threshold``; written by ``PUT /v1/orgs/<org>``
(fan-out to the org's sites) and when a site joins an org, so that the
answer reads one hash tag. A copy of another org than ``org``, or none,
is refreshed by the reader.

Sensor ids are restricted to ``A-Z a-z 0-9 . _ : -`` (no braces), so an id
can never break out of its hash tag.

Background workers (one key, no tag):

``workers:passes``
    hash worker name (host, pid and a random suffix) -> JSON ``{"at": <when
    it last completed an offline detection pass, seconds since the epoch>,
    "interval": <its OFFLINE_CHECK_INTERVAL>}``, written by each pass;
    ``GET /v1/status`` reads it. A worker that stops removes its field; a
    field not written for a day is removed by the next pass of any worker.

Lua scripts spell none of this layout: a ``{{NAME}}`` in a ``.lua`` file
stands for the constant ``NAME`` of this module (a key suffix or separator,
or a hash field such as ``SensorMeta.ORG``), and ``render_lua`` replaces it
by that value, quoted, once when the script is loaded. The key builders below
use the same constants, so one change here changes Python and Lua alike.
"""

from __future__ import annotations

import re

# Suffixes appended to a tagged key (``sensor:{id}``, ``site:{id}``) and the
# separator of the parts that follow (also of a delivery member
# ``<webhook id>:<stream id>``); Lua derives keys from declared ones with them.
SEPARATOR = ":"
READINGS_SUFFIX = ":r:"
META_SUFFIX = ":meta"
HEARTBEAT_SUFFIX = ":hb"
OUTBOX_SUFFIX = ":outbox"
CONFIG_SUFFIX = ":config"
LIVE_SUFFIX = ":live"
DAY_SUFFIX = ":day:"
MINUTES_SUFFIX = ":minutes"
SEEN_SUFFIX = ":seen:"
SEEN_FRACTION_SUFFIX = ":seenf"
ROLLUP_SUFFIX = ":h:"
RENDERED_SUFFIX = ":shown:"
# Field of a bucket hash of readings: its readings are in the history tiers
# (not an offset: offsets are digits).
ROLLED_FIELD = "rolled"


class SensorStats:
    """Fields of the statistics hash ``sensor:{id}``."""

    GEN = "gen"
    COUNT = "count"
    # The exact sum of the values (Shewchuk partials, packed: exactsum.lua).
    EXACT = "exact"
    # A sum of one double, as written before exact sums (migrated on the next write).
    SUM = "sum"
    LAST_US = "last_us"
    LAST_ISO = "last_iso"
    LAST_VALUE = "last_value"
    # Lowest bucket number whose bucket hash may wait to be rolled up into
    # the history tiers (the worker's seal.lua starts there).
    UNSEALED = "unsealed"


class SensorMeta:
    """Fields of the metadata hash ``sensor:{id}:meta``."""

    ORG = "org"
    SITE = "site"
    BUILDING = "building"
    ROOM = "room"
    KIND = "kind"
    UNIT = "unit"
    INPUT_UNIT = "input_unit"
    MAC = "mac"
    NAME = "name"
    READING_INTERVAL = "reading_interval"
    REGISTERED = "registered"
    UPDATED = "updated"


class WebhookCircuit:
    """Fields of a webhook's circuit breaker hash ``{events}:circuit:<id>``."""

    FAILURES = "failures"
    OPEN_UNTIL = "open_until"
    ERROR = "error"


class SensorHeartbeat:
    """Fields of the liveness hash ``sensor:{id}:hb``."""

    STATUS = "status"
    SINCE = "since"
    HEARD_AT = "heard_at"
    LAST_HB = "last_hb"
    MAC = "mac"
    SEQ = "seq"


class SiteRecord:
    """Fields of the site record hash ``site:{id}``."""

    ID = "id"
    NAME = "name"
    LOCATION = "location"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    ORG = "org"
    TIMEZONE = "timezone"
    THRESHOLD = "threshold"
    CONFIG_VERSION = "config_version"
    CONFIG_DOC = "config_doc"
    CONFIG_FROM_US = "config_from_us"
    ORG_COPY = "org_copy"
    ORG_VERSION = "org_version"
    ORG_UNIT = "org_unit"
    ORG_TIMEZONE = "org_timezone"
    ORG_THRESHOLD = "org_threshold"


class SiteDay:
    """Fields of the day hash ``site:{id}:day:<date>``."""

    READINGS = "readings"
    MAX = "max"
    MAX_AT = "max_at"
    HOT_MAX = "hot_max"
    HOT_THRESHOLD = "hot_threshold"
    HOT_PUBLISHED = "hot_published"


class StreamEntry:
    """Fields of an entry of the event stream ``{events}:stream``."""

    ID = "id"
    TYPE = "type"
    SUBJECT = "subject"
    ORG = "org"
    EVENT = "event"


FIELD_GROUPS = (SensorStats, SensorMeta, SensorHeartbeat, SiteRecord, SiteDay, StreamEntry, WebhookCircuit)


def sensor(sensor_id: str) -> str:
    """Statistics hash of one sensor; also the routing key of its scripts."""
    return f"sensor:{{{sensor_id}}}"


# Buckets of one history tier per chunk hash: below Redis' default
# hash-max-ziplist-entries (128), so a chunk stays compactly encoded.
ROLLUP_CHUNK = 120
# Field of a chunk hash: its version, a hash chained over every write to
# the chunk (rollup.lua), so equal versions mean equal contents: a copy of
# the chunk rendered for a series is checked against it (history/rendered.py).
ROLLUP_VERSION_FIELD = "v"


def sensor_rollup_chunk(sensor_id: str, tier_seconds: int, gen: int | str, chunk: int | str) -> str:
    """One chunk of ROLLUP_CHUNK buckets of one history tier of a sensor."""
    return f"{sensor(sensor_id)}{ROLLUP_SUFFIX}{tier_seconds}{SEPARATOR}{gen}{SEPARATOR}{chunk}"


def sensor_rendered_chunk(sensor_id: str, tier_seconds: int, gen: int | str, chunk: int | str, unit: str | None) -> str:
    """A history chunk's series points rendered in ``unit`` (None: the
    sensor's own), shared by every web process for a while (history/rendered.py)."""
    return f"{sensor_rollup_chunk(sensor_id, tier_seconds, gen, chunk)}{RENDERED_SUFFIX}{unit or ''}"


HISTORY_SEALED = "history:sealed"
HISTORY_BACKFILLED = "history:backfilled"
HISTORY_BACKFILL = "history:backfill"
HISTORY_RECLAIM = "history:reclaim"


def sensor_bucket(sensor_id: str, gen: int | str, bucket: int | str) -> str:
    """Readings of one sensor in one time bucket of one clear generation."""
    return f"{sensor(sensor_id)}{READINGS_SUFFIX}{gen}{SEPARATOR}{bucket}"


# SCAN pattern of every sensor's bucket hashes of readings (sensor ids hold
# no braces, so ``}`` ends the tag).
SENSOR_BUCKETS_PATTERN = sensor("*") + READINGS_SUFFIX + "*"


def parse_sensor_bucket(key: str | bytes) -> tuple[str, int, int] | None:
    """(sensor id, gen, bucket) of a ``sensor_bucket`` key; None for another key."""
    if isinstance(key, bytes):
        key = key.decode()
    head, tag_end = sensor(""), key.find("}")
    if not key.startswith(head[:-1]) or tag_end < 0:
        return None
    sensor_id, rest = key[len(head) - 1 : tag_end], key[tag_end + 1 :]
    if not rest.startswith(READINGS_SUFFIX):
        return None
    gen, separator, bucket = rest[len(READINGS_SUFFIX) :].partition(SEPARATOR)
    if not (separator and gen.isdigit() and bucket.isdigit()):
        return None
    return sensor_id, int(gen), int(bucket)


SENSORS_SEEN = "sensors:seen"
WORKER_PASSES = "workers:passes"
SENSOR_IDS = "sensors:ids"
SENSOR_IDS_COMPLETE = "sensors:ids:complete"
SENSOR_IDS_FILL = "sensors:ids:fill"


# -- sites ----------------------------------------------------------------


def site(site_id: str) -> str:
    """Record hash of one site; also the routing key of its scripts."""
    return f"site:{{{site_id}}}"


def site_configurations(site_id: str) -> str:
    """Every configuration version of one site, oldest first."""
    return site(site_id) + CONFIG_SUFFIX


def site_live(site_id: str) -> str:
    """Live entries of one site, scored by instant."""
    return site(site_id) + LIVE_SUFFIX


SITES_ALL = "sites:all"


def sites_by_org(org: str) -> str:
    return f"sites:org:{org}"


def sites_by_location(location: str) -> str:
    return f"sites:location:{location}"
# -- heartbeats, status, events, webhooks ---------------------------------


def sensor_heartbeat(sensor_id: str) -> str:
    """Liveness hash of one sensor (status, last heartbeat, MAC address)."""
    return sensor(sensor_id) + HEARTBEAT_SUFFIX


def sensor_outbox(sensor_id: str) -> str:
    """The sensor's claimed transition events not yet in the stream."""
    return sensor(sensor_id) + OUTBOX_SUFFIX


EVENTS_STREAM = "{events}:stream"
EVENTS_PUBLISHED = "{events}:published"
EVENTS_OFFLINE = "{events}:offline"
EVENTS_WATERMARK = "{events}:watermark"
WEBHOOKS = "{events}:webhooks"
WEBHOOK_DELIVERIES = "{events}:deliveries"
WEBHOOK_ATTEMPTS = "{events}:attempts"
WEBHOOK_DEAD = "{events}:dead"
WEBHOOK_DEAD_INDEX = "{events}:dead:index"
WEBHOOK_QUEUE = "{events}:queue"
WEBHOOK_READY = "{events}:ready"
WEBHOOK_SINCE = "{events}:since"
WEBHOOK_INFLIGHT = "{events}:inflight"
WEBHOOK_CIRCUIT = "{events}:circuit"


def webhook_dead_index_of(org: str) -> str:
    """Order of the dead letters of one org's webhooks (``dead.lua`` derives it the same way)."""
    return f"{WEBHOOK_DEAD_INDEX}{SEPARATOR}{org}"


def webhook_dead_letters_pattern(webhook_id: str) -> str:
    """HSCAN pattern of one webhook's dead letters in ``WEBHOOK_DEAD``."""
    return f"{webhook_id}{SEPARATOR}*"


def webhook_queue(webhook_id: str) -> str:
    """One webhook's pending deliveries (the scripts derive it the same way)."""
    return f"{WEBHOOK_QUEUE}{SEPARATOR}{webhook_id}"


def webhook_inflight(webhook_id: str) -> str:
    """One webhook's deliveries in flight (``lease.lua`` derives it the same way)."""
    return f"{WEBHOOK_INFLIGHT}{SEPARATOR}{webhook_id}"


def webhook_circuit(webhook_id: str) -> str:
    """One webhook's circuit breaker (``lease.lua`` derives it the same way)."""
    return f"{WEBHOOK_CIRCUIT}{SEPARATOR}{webhook_id}"


# -- sensor registry, windows, buildings and rooms ------------------------


def sensor_meta(sensor_id: str) -> str:
    """Metadata hash of a registered sensor (same tag as its readings)."""
    return sensor(sensor_id) + META_SUFFIX


SENSORS_REGISTERED = "sensors:registered"
SENSORS_BY_MAC = "sensors:mac"


def sensors_by(field: str, value: str) -> str:
    """Index set of the sensors whose ``field`` (org, site, building, kind) is ``value``."""
    return f"sensors:{field}:{value}"


def sensors_in_room(building: str, room: str, org: str | None = None) -> str:
    """The sensors of a room: rooms are per org (a room of no org is an
    all-orgs key's)."""
    base = f"sensors:room:{building}:{room}"
    return base if org is None else f"{base}:org:{org}"


def org(org_id: str) -> str:
    """An org's settings hash; its ``unit`` field is its sensors' default input unit."""
    return f"org:{{{org_id}}}"


# -- too hot or not -------------------------------------------------------


def site_day(site_id: str, date: str) -> str:
    """State of one local day of a site; the other day keys are derived from
    it (suffixes ``:minutes``, ``:seenf``, ``:seen:<sensor>``) inside Lua."""
    return site(site_id) + DAY_SUFFIX + date


def site_day_minutes(site_id: str, date: str) -> str:
    return site_day(site_id, date) + MINUTES_SUFFIX


# -- access control -------------------------------------------------------

# Field of ``sensor_meta`` whose value scopes org API keys.
SENSOR_ORG_FIELD = SensorMeta.ORG


def rate_limit(key_id: str) -> str:
    """Request counter of one API key (by key id) in its current window."""
    return f"ratelimit:{{{key_id}}}"


def auth_failures(subject: str) -> str:
    """Failed key guesses of one subject (``addr:<ip>`` or ``prefix:<hash>``) in its window."""
    return f"authfail:{{{subject}}}"


# -- Lua scripts ----------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{([\w.]*)\}\}")


def lua_names() -> dict[str, str]:
    """Every name a ``.lua`` file may use as ``{{NAME}}``, with its value."""
    names = {name: value for name, value in globals().items()
             if name in ("SEPARATOR", "ROLLED_FIELD", "ROLLUP_VERSION_FIELD") or name.endswith("_SUFFIX")}
    for group in FIELD_GROUPS:
        names.update({f"{group.__name__}.{name}": value for name, value in vars(group).items() if name.isupper()})
    return names


def render_lua(text: str) -> str:
    """A script's text with each ``{{NAME}}`` replaced by a Lua string literal
    of this module's value of ``NAME``; an unknown name is a ``KeyError``."""
    names = lua_names()

    def literal(match: re.Match) -> str:
        name = match.group(1)
        if name not in names:
            raise KeyError(f"{{{{{name}}}}} is not a key suffix or field of service/keys.py")
        value = names[name]
        if re.search(r"['\\\n]", value):
            raise ValueError(f"{name} = {value!r} cannot be quoted as it is in Lua")
        return f"'{value}'"

    return _PLACEHOLDER.sub(literal, text)
