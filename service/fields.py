"""The vocabulary every domain's contract shares, as marshmallow fields.

Id patterns and their messages (sensor, site, org, building and room ids),
the check of a sensor id in a URL path, the number, instant and time-zone fields, and the schemas of a reading that
several domains take or show (with the query that says how to read its epoch timestamps). Domains import these from here, never from
one another's schemas.
"""

from __future__ import annotations

import math
import re
from zoneinfo import ZoneInfoNotFoundError

import marshmallow as ma

from . import timeutil, units
from .errors import abort

# -- ids ----------------------------------------------------------------------

# JSON-schema form for the OpenAPI document; Python matches with fullmatch so
# that a trailing newline cannot slip past ``$``.
SENSOR_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
is_sensor_id = re.compile(r"[A-Za-z0-9._:\-]{1,128}").fullmatch
MSG_SENSOR_ID = "Sensor ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"
# Sites and orgs share the sensor-id charset (see SensorId).
MSG_SITE_ID = "Site ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"
MSG_ORG_ID = "Org ids are 1 to 128 characters of A-Z a-z 0-9 . _ : -"
# Building and room ids: no "." or ":" so that index keys and a room's
# default sensor id "room.<b>.<r>" are unambiguous.
PLACE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,60}$"
is_place_id = re.compile(r"[A-Za-z0-9_-]{1,60}").fullmatch
MSG_PLACE_ID = "Building and room ids are 1 to 60 characters of A-Z a-z 0-9 _ -"


# A room's own sensor (readings posted for the room without a sensor):
# "room.<building>.<room>" for the room of no org, "room.<org>.<building>.<room>"
# for an org's. Building and room ids hold no ".", so the last two parts
# are they and the org is what comes before them. Such an id is its room's:
# only its org writes it, and it is of no other room.
ROOM_SENSOR_PREFIX = "room."


def room_sensor_id(building: str, room: str, org: str | None = None) -> str:
    """The id of the room's own sensor."""
    return f"{ROOM_SENSOR_PREFIX}{building}.{room}" if org is None else f"{ROOM_SENSOR_PREFIX}{org}.{building}.{room}"


def room_of_sensor(sensor_id: str) -> tuple[str | None, str, str] | None:
    """(org or None, building, room) of the room whose own sensor id this
    is; None for any other id."""
    if not sensor_id.startswith(ROOM_SENSOR_PREFIX):
        return None
    parts = sensor_id[len(ROOM_SENSOR_PREFIX):].rsplit(".", 2)
    org = parts[0] if len(parts) == 3 else None
    if len(parts) < 2 or org == "" or not is_place_id(parts[-2]) or not is_place_id(parts[-1]):
        return None
    return org, parts[-2], parts[-1]


def checked_sensor_id(sensor_id: str) -> str:
    """The sensor id of a URL path; 400 when it is not in the sensor-id charset."""
    if not is_sensor_id(sensor_id):
        abort(400, f"Invalid sensor id: {MSG_SENSOR_ID}.")
    return sensor_id


MSG_NOT_NUMBER = "Not a valid number."
MSG_NOT_FINITE = "Special numeric values (nan or infinity) are not permitted."
MSG_NOT_STRING = "Not a valid string."
MSG_TIMEZONE = "Not an IANA time zone name (example: Europe/Brussels, or UTC)."


def check_number(value) -> float:
    """A finite JSON number (booleans and strings are not numbers)."""
    kind = type(value)
    if kind is not float and kind is not int:
        raise ma.ValidationError(MSG_NOT_NUMBER)
    try:
        number = float(value)
    except OverflowError:
        raise ma.ValidationError(MSG_NOT_FINITE) from None
    if not math.isfinite(number):
        raise ma.ValidationError(MSG_NOT_FINITE)
    return number


# -- fields -------------------------------------------------------------------


class FiniteNumber(ma.fields.Float):
    """A finite JSON number; ``true`` and ``"21.5"`` are refused (a Float
    subclass so that OpenAPI shows its range as minimum/maximum)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return check_number(value)


class Instant(ma.fields.Field):
    """An ISO 8601 timestamp with a UTC offset; deserialises to
    ``(microseconds since the epoch, text in the sent offset)``."""

    def __init__(self, assume_tz=None, **kwargs):
        super().__init__(**kwargs)
        self.assume_tz = assume_tz

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return timeutil.parse_instant(value, self.assume_tz)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class ReadingTimestamp(Instant):
    """A reading's timestamp: ISO 8601 text (``Instant``) or a JSON number
    since the Unix epoch in ``precision`` units (s, ms, us; never guessed
    from its size); deserialises like ``Instant``."""

    def __init__(self, assume_tz=None, precision: str = "s", **kwargs):
        super().__init__(assume_tz, **kwargs)
        self.precision = precision
        # (latest instant allowed, FUTURE_TOLERANCE), or None: not checked.
        self.horizon: tuple[int, int] | None = None

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            instant = timeutil.reading_instant(value, self.precision, self.assume_tz)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None
        if self.horizon is not None and instant[0] > self.horizon[0]:
            raise ma.ValidationError(timeutil.future_message(instant[0], *self.horizon))
        return instant


MSG_PRECISION = f"Not a known precision; one of: {', '.join(timeutil.EPOCH_PRECISIONS)}."


class IngestQuerySchema(ma.Schema):
    """The query of the routes that take readings: how to read epoch numbers."""

    precision = ma.fields.String(
        load_default="s",
        validate=ma.validate.OneOf(tuple(timeutil.EPOCH_PRECISIONS), error=MSG_PRECISION),
        metadata={
            "description": (
                "Units of timestamps sent as numbers since the Unix epoch: s (seconds), ms (milliseconds) "
                "or us (microseconds); fractions allowed; never guessed from a number's size. "
                "ISO 8601 timestamps are not affected."
            ),
        },
    )


class QueryInstant(ma.fields.Field):
    """ISO 8601 instant (with offset) or epoch seconds; deserialises to microseconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return timeutil.parse_query_instant(value)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class SensorId(ma.fields.String):
    """An id in the sensor-id charset. Sensors, sites and orgs share it, so
    no id can break out of its Redis hash tag; ``message`` names the kind."""

    def __init__(self, message: str = MSG_SENSOR_ID, **kwargs):
        def check(value: str) -> None:
            if not is_sensor_id(value):
                raise ma.ValidationError(message)

        metadata = {"description": message, "pattern": SENSOR_ID_PATTERN, "minLength": 1, "maxLength": 128}
        metadata.update(kwargs.pop("metadata", {}))
        kwargs.setdefault("validate", check)
        kwargs.setdefault("error_messages", {"invalid": MSG_NOT_STRING})
        super().__init__(metadata=metadata, **kwargs)


class TimeZoneName(ma.fields.String):
    """An IANA time zone name that this server's tz database knows."""

    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs)
        try:
            timeutil.zone_from_name(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ma.ValidationError(MSG_TIMEZONE) from None
        return name


def unit_field(units_allowed=units.UNITS, **kwargs):
    """A unit among ``units_allowed``."""
    return ma.fields.String(
        validate=ma.validate.OneOf(units_allowed, error=f"Not a known unit; one of: {', '.join(units_allowed)}."),
        **kwargs,
    )


# -- readings -----------------------------------------------------------------


class ReadingSchema(ma.Schema):
    """One reading of one sensor (``POST /data``; rooms take it with defaults)."""

    class Meta:
        unknown = ma.RAISE

    sensor = SensorId(required=True, metadata={"example": "sensor-42"})
    timestamp = ReadingTimestamp(
        required=True,
        metadata={
            "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number", "minimum": 0}],
            "description": (
                "ISO 8601 with Z or an offset, or a number since the Unix epoch in the units of the query's "
                "precision (default seconds). The same instant in another offset or form is the same reading."
            ),
            "example": "2021-11-08T22:38:09.123+01:00",
        },
    )
    value = FiniteNumber(required=True, metadata={"type": "number", "example": 21.5})
    unit = ma.fields.String(
        validate=ma.validate.OneOf(units.UNITS, error=units.MSG_UNIT),
        error_messages={"invalid": MSG_NOT_STRING},
        metadata={
            "description": (
                "Unit of this value. Without it the sensor's unit applies (then its org's, then its kind's "
                "default). Stored in the kind's canonical unit (temperature: C)."
            ),
            "example": "F",
        },
    )

    def __init__(self, *args, assume_tz=None, precision: str = "s", future_tolerance: int | None = None, **kwargs):
        """``future_tolerance``: FUTURE_TOLERANCE, seconds a timestamp may lie
        past the server's clock as of now (None: not checked); a schema is
        built per batch."""
        super().__init__(*args, **kwargs)
        self.fields["timestamp"].assume_tz = assume_tz
        self.fields["timestamp"].precision = precision
        if future_tolerance is not None:
            self.fields["timestamp"].horizon = (timeutil.future_horizon_us(future_tolerance), future_tolerance)

    # Not skipped on field errors: in a batch those would silence every item.
    @ma.validates_schema(skip_on_field_errors=False)
    def _physically_possible(self, data, **kwargs):
        unit = data.get("unit")
        if unit is not None and "value" in data:
            problem = units.bounds_error(units.to_canonical(data["value"], unit), units.KIND_OF_UNIT[unit])
            if problem:
                raise ma.ValidationError(problem, "value")


class LastReadingSchema(ma.Schema):
    """A sensor's latest reading, as the registry and the sensor overview show it."""

    at = ma.fields.String(metadata={"description": "Instant of the latest reading, in the offset it was sent in"})
    value = ma.fields.Float(metadata={"description": "In unit"})
    unit = ma.fields.String(allow_none=True, metadata={"description": "Unit of value (none for a sensor of no kind)"})


# -- replacing bodies ---------------------------------------------------------

MSG_NOTHING_SET = (
    "The body names no field, so it would reset every one: send the fields to set, "
    "and null for each field to clear or return to its default."
)


class ReplaceSchema(ma.Schema):
    """The body of a PUT that replaces a whole record: a field left out is
    cleared (or takes its default), ``null`` says so explicitly, and an empty
    object is refused (422), so that a body sent empty by mistake resets
    nothing. A null is dropped before validation only for a known field,
    except for the fields of ``null_kept``, whose null the route reads."""

    null_kept: tuple[str, ...] = ()

    @ma.pre_load
    def _names_what_it_sets(self, data, **kwargs):
        if not isinstance(data, dict):
            return data  # the schema answers "Invalid input type."
        if not data:
            raise ma.ValidationError(MSG_NOTHING_SET)
        known = {field.data_key or name for name, field in self.load_fields.items()}
        return {key: value for key, value in data.items()
                if value is not None or key not in known or key in self.null_kept}


def shown_in_every_unit(value: float) -> None:
    """A threshold in degrees Celsius is shown in its org's unit: it must be
    a finite number in F and K too (1e308 C is not). Below absolute zero is
    Range's message."""
    if value >= units.ABSOLUTE_ZERO_C:
        problem = units.bounds_error(value, "temperature")
        if problem:
            raise ma.ValidationError(problem)


class SensorIdList(ma.fields.Field):
    """Comma-separated sensor ids (a comma is not in their charset); repeats
    dropped, order kept; at most ``limit`` (the message names what is
    limited: "per request", "per export")."""

    def __init__(self, limit: int, per: str, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit
        self.per = per

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ma.ValidationError("Not a valid string.")
        ids = list(dict.fromkeys(value.split(",")))
        bad = [sensor_id for sensor_id in ids if not is_sensor_id(sensor_id)]
        if bad:
            raise ma.ValidationError(f"{MSG_SENSOR_ID}; not: {', '.join(repr(b[:130]) for b in bad[:5])}")
        if len(ids) > self.limit:
            raise ma.ValidationError(f"At most {self.limit} sensors per {self.per}; {len(ids)} were given.")
        return ids

    def _jsonschema_type_mapping(self):  # pragma: no cover - documentation only
        return {"type": "string"}
