"""The MQTT bridge: messages from a broker into the readings store.

paho-mqtt's network thread puts every message it receives in an inbox; the
bridge's own loop takes up to MQTT_BATCH_SIZE of them (waiting at most
MQTT_FLUSH_INTERVAL for a batch to fill), checks each message as
``POST /data`` checks a body, writes the valid ones with one ingest of the
readings store, publishes the invalid ones to the dead-letter topic, and
only then acknowledges the batch's messages, in the order they came.

Nothing acknowledged is lost: the session is persistent (MQTT 5, clean
start off, a session expiry), so the broker keeps a message until its
PUBACK and sends it again to the next bridge with the same client id if
this one dies first. A message sent again is harmless: its readings are
duplicates to the store's dedup. While Redis is unavailable the batch
waits, unacknowledged, and the broker sends no more than its Receive
Maximum.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from urllib.parse import unquote, urlsplit

import orjson
from paho.mqtt.client import Client, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..errors import is_out_of_memory
from ..metrics import MQTT_MESSAGES, count_readings
from ..readings.intake import ingest_counted, kinds_named_by_units
from ..readings.store import ReadingStore
from ..readings.validation import BatchError, ReadingGroups, apply_sensor_units, merge_groups, parse_batch
from ..redisdb.connection import UNAVAILABLE_ERRORS
from ..sensors.store import SensorRegistry
from ..settings import Settings
from .messages import batch_of

log = logging.getLogger("sensorhub.mqtt")

# How long the broker keeps the session (subscriptions, unacknowledged and
# queued messages) after the bridge went away: a week of outage.
SESSION_EXPIRY_SECONDS = 7 * 86400
# Pause after Redis failed to answer, before the batch is tried again.
BACKOFF_SECONDS = 1.0
# Longest wait for the broker to confirm a dead letter.
DEAD_LETTER_TIMEOUT = 10.0
# Longest wait for a first message before the loop looks at the stop flag.
IDLE_SECONDS = 0.5


class Stopped(Exception):
    """The bridge was asked to stop while a batch waited for Redis: the
    batch stays unacknowledged, for the broker to send again."""


class Bridge:
    def __init__(self, settings: Settings, readings: ReadingStore, registry: SensorRegistry):
        self.settings = settings
        self.readings = readings
        self.registry = registry
        self.stop = threading.Event()
        self.inbox: queue.SimpleQueue[tuple[int, MQTTMessage]] = queue.SimpleQueue()
        # Counts connections: a message is acknowledged only on the
        # connection that brought it (after a reconnect the broker sends it
        # again, and its packet id may then name another message).
        self.connection = 0
        self.connected = threading.Event()
        self.url = urlsplit(settings.mqtt_url)
        self.client = self._client()

    # -- the broker ---------------------------------------------------------

    def _client(self) -> Client:
        client = Client(
            CallbackAPIVersion.VERSION2, client_id=self.settings.mqtt_client_id, protocol=MQTTv5, manual_ack=True,
        )
        if self.url.username:
            client.username_pw_set(unquote(self.url.username), unquote(self.url.password or "") or None)
        if self.url.scheme == "mqtts":
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt connection refused", extra={"fields": {"reason": str(reason_code)}})
            return
        self.connection += 1
        # No Local: the bridge's own dead letters do not come back to it
        # when its filters cover the dead-letter topic (sensorhub/+ does).
        options = SubscribeOptions(qos=1, noLocal=True)
        client.subscribe([(topic, options) for topic in self.settings.mqtt_topic_filters])
        self.connected.set()
        log.info("mqtt connected", extra={"fields": {
            "broker": self.url.hostname, "session_present": flags.session_present,
            "topics": self.settings.mqtt_topics}})

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.stop.is_set():
            log.warning("mqtt disconnected", extra={"fields": {"reason": str(reason_code)}})

    def _on_message(self, client, userdata, message: MQTTMessage) -> None:
        self.inbox.put((self.connection, message))

    # -- the loop -----------------------------------------------------------

    def run(self) -> None:
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        # Unacknowledged messages the broker may send: a batch being
        # written and the next one filling.
        connect.ReceiveMaximum = 2 * self.settings.mqtt_batch_size
        default_port = 8883 if self.url.scheme == "mqtts" else 1883
        self.client.connect_async(self.url.hostname or "localhost", self.url.port or default_port, keepalive=30,
                                  clean_start=False, properties=connect)
        self.client.loop_start()
        try:
            while not self.stop.is_set():
                batch = self._take()
                if batch:
                    self.flush(batch)
        except Stopped:
            pass
        finally:
            # The session outlives the connection: what was not acknowledged
            # goes to the next bridge.
            self.client.disconnect()
            self.client.loop_stop()
        log.info("mqtt bridge stopped")

    def _take(self) -> list[tuple[int, MQTTMessage]]:
        """The next batch: up to MQTT_BATCH_SIZE messages, the first waiting
        at most MQTT_FLUSH_INTERVAL for the others."""
        try:
            batch = [self.inbox.get(timeout=IDLE_SECONDS)]
        except queue.Empty:
            return []
        size = self.settings.mqtt_batch_size
        deadline = time.monotonic() + self.settings.mqtt_flush_interval
        while len(batch) < size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.inbox.get(timeout=remaining) if remaining > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def flush(self, batch: list[tuple[int, MQTTMessage]]) -> None:
        """Store the batch's valid messages, dead-letter the others, then
        acknowledge them all.

        Only the intake's last step is ``POST /data``'s (``ingest_counted``),
        not all of ``readings.intake.admit``: the bridge has no API key (it
        writes as an all-orgs client, so no org is refused and no sensor
        claimed), and it reads the metadata of all its messages' sensors at
        once, checks units message by message (a message at fault is dead-
        lettered alone, where ``admit`` refuses a whole batch) and writes
        the messages that pass in one ingest.
        """
        settings = self.settings
        checked, dead = [], []
        for entry in batch:
            message = entry[1]
            if message.topic == settings.mqtt_dead_letter_topic:
                continue  # another bridge's dead letter: not readings
            try:
                payload = batch_of(message.topic, message.payload, max_bytes=settings.max_body_bytes)
                groups, total = parse_batch(payload, max_batch=settings.max_batch,
                                            bucket_us=settings.bucket_seconds * 1_000_000, assume_tz=settings.assume_tz,
                                            future_tolerance=settings.future_tolerance)
            except BatchError as exc:
                dead.append((message, exc, _readings_in(message)))
                continue
            checked.append((message, payload, groups, total))
        sensors = {sensor for _, _, groups, _ in checked for sensor in groups}
        sensor_units, _ = self._with_redis(self.readings.sensor_meta, sensors) if sensors else ({}, {})
        merged, total_readings, stored = ReadingGroups(), 0, 0
        for message, payload, groups, total in checked:
            try:
                apply_sensor_units(groups, {s: sensor_units[s] for s in groups if s in sensor_units},
                                   payload, settings.assume_tz)
            except BatchError as exc:
                dead.append((message, exc, total))
                continue
            merge_groups(merged, groups)
            total_readings += total
            stored += 1
        if merged:
            self._with_redis(ingest_counted, self.readings, merged, total_readings, "mqtt")
            labels = kinds_named_by_units(merged, sensor_units)
            if labels:
                self._with_redis(self.registry.fill_missing, labels)
        MQTT_MESSAGES.labels("stored").inc(stored)
        lost = {id(message) for message in self._dead_letters(dead)}
        connection = self.connection
        for received_on, message in batch:
            if message.qos and received_on == connection and id(message) not in lost:
                self.client.ack(message.mid, message.qos)

    def _dead_letters(self, dead: list) -> list[MQTTMessage]:
        """Publish each refused message with its reason and wait for the
        broker to have them; returns those it did not confirm (left
        unacknowledged, to come again)."""
        published = []
        for message, error, readings in dead:
            letter = {"topic": message.topic, "error": {"code": error.status, "message": error.message}}
            if error.errors is not None:
                letter["error"]["errors"] = error.errors
            try:
                letter["payload"] = message.payload.decode()
            except UnicodeDecodeError:
                letter["payload_hex"] = message.payload.hex()
            info = self.client.publish(self.settings.mqtt_dead_letter_topic, orjson.dumps(letter), qos=1)
            published.append((message, info, readings))
            log.warning("mqtt dead letter", extra={"fields": {
                "topic": message.topic, "code": error.status, "error": error.message}})
        lost = []
        for message, info, readings in published:
            try:
                info.wait_for_publish(DEAD_LETTER_TIMEOUT)
            except (RuntimeError, ValueError):
                pass
            if info.is_published():
                MQTT_MESSAGES.labels("dead_letter").inc()
                count_readings("rejected", readings, route="mqtt")
            else:
                lost.append(message)
        return lost

    def _with_redis(self, step, *args):
        """``step(*args)``, tried again while Redis is unavailable (or full),
        until it answers or the bridge is asked to stop."""
        while True:
            try:
                return step(*args)
            except UNAVAILABLE_ERRORS as exc:
                problem = exc
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                problem = exc
            log.warning("redis unavailable; the batch waits", extra={"fields": {
                "error": repr(problem), "redis": self.settings.redis_server}})
            if self.stop.wait(BACKOFF_SECONDS):
                raise Stopped from problem


def _readings_in(message: MQTTMessage) -> int:
    """How many readings a refused message carried, as far as can be told
    (1 when it is not a JSON array)."""
    try:
        document = orjson.loads(message.payload)
    except orjson.JSONDecodeError:
        return 1
    return len(document) if type(document) is list else 1
