"""The contract of the energy-site routes, as marshmallow schemas.

They validate every request and generate the OpenAPI document. Live data
comes in two equivalent forms, so ``load_live`` ties the column schema and
the row schema together and adds the one check neither can make alone: no
two entries of one post at the same instant.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime, tzinfo

import marshmallow as ma
from marshmallow.validate import Length, OneOf, Range

from .. import timeutil, units
from ..fields import (
    MSG_NOT_STRING,
    MSG_ORG_ID,
    MSG_SITE_ID,
    SENSOR_ID_PATTERN,
    FiniteNumber,
    Instant,
    SensorId,
    TimeZoneName,
    shown_in_every_unit,
)

MSG_BLANK = "May not be blank."
MSG_NOT_BOOLEAN = "Not a valid boolean: send true or false."
MSG_DT_STAMP = (
    "Not a valid dt-stamp: send 'YYYY-MM-DD HH:MM:SS' (the site's time zone) "
    "or ISO 8601 with an offset (example: 2023-01-01T00:10:00+01:00)."
)
VENDORS = ("Tesla", "KATL")


_LOCAL_STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").fullmatch
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_site_id(now: float | None = None) -> str:
    """A 26-character ULID-style id: 48 bits of milliseconds, 80 random bits.

    Ids sort by creation time, so the id-ordered site list is roughly the
    order of creation.
    """
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


# -- fields -------------------------------------------------------------------


def _text_field(max_length: int, **kwargs) -> ma.fields.String:
    def not_blank(value: str) -> None:
        if not value.strip():
            raise ma.ValidationError(MSG_BLANK)

    return ma.fields.String(
        validate=[Length(min=1, max=max_length), not_blank],
        error_messages={"invalid": MSG_NOT_STRING},
        **kwargs,
    )


class StrictBoolean(ma.fields.Field):
    """JSON ``true`` or ``false`` only (not 0/1, not "true")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"type": "boolean"})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        raise ma.ValidationError(MSG_NOT_BOOLEAN)


class DtStamp(ma.fields.Field):
    """A live entry's time: ``YYYY-MM-DD HH:MM:SS`` in the site's zone, or
    ISO 8601 with an offset. Deserialises to ``(microseconds since the
    epoch, ISO 8601 text with its offset)``."""

    def __init__(self, zone: tzinfo = UTC, **kwargs):
        kwargs.setdefault(
            "metadata",
            {
                "type": "string",
                "description": "'YYYY-MM-DD HH:MM:SS' in the site's time zone (UTC when it has none), "
                "or ISO 8601 with an offset",
                "example": "2023-01-01 00:10:00",
            },
        )
        super().__init__(**kwargs)
        self.zone = zone

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not str:
            raise ma.ValidationError(MSG_DT_STAMP)
        if not _LOCAL_STAMP(value):
            try:
                return timeutil.parse_instant(value)
            except ValueError:
                raise ma.ValidationError(MSG_DT_STAMP) from None
        try:
            naive = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ma.ValidationError(MSG_DT_STAMP) from None
        moment = naive.replace(tzinfo=self.zone)
        # A wall-clock time skipped by a daylight-saving jump does not exist;
        # one repeated when clocks go back is read as its first occurrence.
        if moment.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            raise ma.ValidationError(f"{value} does not exist in {self.zone} (daylight-saving gap).")
        us = (moment - timeutil.EPOCH) // timeutil.ONE_US
        if not timeutil.MIN_US <= us < timeutil.MAX_US:
            raise ma.ValidationError(timeutil.MSG_RANGE)
        return us, moment.isoformat()


def _kwh(description: str = "", **kwargs):
    metadata = {"description": description} if description else {}
    return FiniteNumber(validate=Range(min=0), metadata=metadata, **kwargs)


def _soc(**kwargs):
    return FiniteNumber(
        validate=Range(min=0, max=100),
        metadata={"description": "State of charge, percent"},
        **kwargs,
    )


# -- sites --------------------------------------------------------------------


class SiteSchema(ma.Schema):
    """A site: an energy site or an office (too hot or not)."""

    id = ma.fields.String(metadata={"example": "willo-woods"})
    name = ma.fields.String(metadata={"example": "Willo Woods"})
    location = ma.fields.String(metadata={"example": "north"})
    org = ma.fields.String(allow_none=True, metadata={"description": "Owning org, if any"})
    timezone = ma.fields.String(allow_none=True, metadata={"description": "IANA zone overriding the org's"})
    threshold = ma.fields.Float(allow_none=True, metadata={"description": "Too-hot threshold overriding the org's, °C"})
    created_at = ma.fields.String(metadata={"format": "date-time"})
    updated_at = ma.fields.String(metadata={"format": "date-time"})


class SitePatchSchema(ma.Schema):
    """Fields to change; ``null`` removes an optional override."""

    name = _text_field(200)
    location = _text_field(200)
    org = SensorId(MSG_ORG_ID, allow_none=True)
    timezone = TimeZoneName(allow_none=True, metadata={"example": "Europe/Brussels"})
    threshold = FiniteNumber(
        allow_none=True,
        validate=[Range(min=units.ABSOLUTE_ZERO_C), shown_in_every_unit],
        metadata={"description": "Too-hot threshold, degrees Celsius", "example": 25},
    )


class SiteCreateSchema(SitePatchSchema):
    """A new site; ``id`` is assigned (ULID-style) when absent."""

    id = SensorId(MSG_SITE_ID, metadata={"example": "willo-woods"})
    name = _text_field(200, required=True, metadata={"example": "Willo Woods"})
    location = _text_field(200, required=True, metadata={"example": "north"})


class SiteListQuerySchema(ma.Schema):
    org = SensorId(MSG_ORG_ID)
    location = ma.fields.String(validate=Length(min=1, max=200))
    limit = ma.fields.Integer(load_default=100, validate=Range(min=1, max=1000))
    cursor = SensorId("The next_cursor of the previous page", metadata={"pattern": SENSOR_ID_PATTERN})


class SiteListSchema(ma.Schema):
    sites = ma.fields.List(ma.fields.Nested(SiteSchema))
    next_cursor = ma.fields.String(
        allow_none=True, metadata={"description": "Pass as cursor for the next page; null on the last page"}
    )


# -- configuration ------------------------------------------------------------


class BatterySchema(ma.Schema):
    vendor = ma.fields.String(
        required=True,
        validate=OneOf(VENDORS, error="Must be one of: Tesla, KATL (exact case)."),
        error_messages={"invalid": MSG_NOT_STRING},
        metadata={"enum": list(VENDORS)},
    )
    capacity_kwh = _kwh(required=True)
    max_power_kw = _kwh(required=True)


class ProductionUnitSchema(ma.Schema):
    # Bounded so that every count stays an exact JSON number for any client
    # (and within the 64-bit integers the configuration is stored with).
    units = ma.fields.Integer(strict=True, required=True, validate=Range(min=0, max=2**53 - 1))
    kwp = _kwh("Peak power, kW")


class ProductionSchema(ma.Schema):
    pv = ma.fields.Nested(ProductionUnitSchema, required=True)
    bio = ma.fields.Nested(ProductionUnitSchema, required=True)
    cro = ma.fields.Nested(ProductionUnitSchema, required=True)


class ConfigurationSchema(ma.Schema):
    """An energy site's configuration. ``id``, when sent, must be the site's."""

    id = ma.fields.Raw(load_only=True, metadata={"description": "Optional; must equal the site id of the path"})
    battery = ma.fields.Nested(BatterySchema, required=True)
    production = ma.fields.Nested(ProductionSchema, required=True)


class ConfigurationVersionSchema(ma.Schema):
    site = ma.fields.String()
    version = ma.fields.Integer(metadata={"description": "1 for the first configuration, +1 per change"})
    valid_from = ma.fields.String(metadata={"format": "date-time", "description": "Server time it took effect"})
    configuration = ma.fields.Nested(ConfigurationSchema)


class ConfigurationHistorySchema(ma.Schema):
    site = ma.fields.String()
    versions = ma.fields.List(ma.fields.Nested(ConfigurationVersionSchema), metadata={"description": "Oldest first"})


class ConfigurationQuerySchema(ma.Schema):
    at = Instant(
        metadata={
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with an offset: answer the version in force at that instant",
        }
    )


# -- live data ----------------------------------------------------------------

COLUMNS = (
    "dt-stamp",
    "soc",
    "load_kwh",
    "net_load_kwh",
    "pv_notification",
    "bio_notification",
    "cro_notification",
)


class LiveEntrySchema(ma.Schema):
    """One live entry (the row form is an array of these)."""

    dt_stamp = DtStamp(required=True, data_key="dt-stamp")
    soc = _soc(required=True)
    load_kwh = _kwh(required=True)
    net_load_kwh = _kwh(required=True)
    pv_notification = StrictBoolean(required=True)
    bio_notification = StrictBoolean(required=True)
    cro_notification = StrictBoolean(required=True)

    def __init__(self, *args, zone: tzinfo = UTC, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dt_stamp"].zone = zone


class LiveColumnsSchema(ma.Schema):
    """The column form of live data: one array per field, all the same length."""

    dt_stamp = ma.fields.List(DtStamp(), required=True, data_key="dt-stamp")
    soc = ma.fields.List(_soc(), required=True)
    load_kwh = ma.fields.List(_kwh(), required=True)
    net_load_kwh = ma.fields.List(_kwh(), required=True)
    pv_notification = ma.fields.List(StrictBoolean(), required=True)
    bio_notification = ma.fields.List(StrictBoolean(), required=True)
    cro_notification = ma.fields.List(StrictBoolean(), required=True)

    def __init__(self, *args, zone: tzinfo = UTC, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dt_stamp"].inner.zone = zone

    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def columns_have_equal_lengths(self, data, original_data, **kwargs):
        lengths = {name: len(original_data[name]) for name in COLUMNS if type(original_data.get(name)) is list}
        expected = lengths.get("dt-stamp", max(lengths.values(), default=0))
        errors = {
            name: [f"Has {length} values; dt-stamp has {expected}: every column needs one value per row."]
            for name, length in lengths.items()
            if length != expected
        }
        if errors:
            raise ma.ValidationError(errors)


class LiveResultSchema(ma.Schema):
    accepted = ma.fields.Integer(metadata={"description": "Entries new to the site, now stored"})
    duplicates = ma.fields.Integer(metadata={"description": "Entries whose instant was already stored, ignored"})


class LiveEntryOutSchema(ma.Schema):
    dt_stamp = ma.fields.String(data_key="dt-stamp", metadata={"description": "ISO 8601 with the offset it was sent in"})
    soc = ma.fields.Float()
    load_kwh = ma.fields.Float()
    net_load_kwh = ma.fields.Float()
    pv_notification = ma.fields.Boolean()
    bio_notification = ma.fields.Boolean()
    cro_notification = ma.fields.Boolean()


class LivePageSchema(ma.Schema):
    entries = ma.fields.List(ma.fields.Nested(LiveEntryOutSchema), metadata={"description": "Oldest first"})
    next_cursor = ma.fields.String(
        allow_none=True, metadata={"description": "Pass as cursor for the next page; null on the last page"}
    )


class LiveQuerySchema(ma.Schema):
    start = Instant(metadata={"type": "string", "format": "date-time", "description": "Inclusive, ISO 8601 with offset"})
    end = Instant(metadata={"type": "string", "format": "date-time", "description": "Exclusive, ISO 8601 with offset"})
    limit = ma.fields.Integer(load_default=100, validate=Range(min=1, max=1000))
    cursor = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{1,17}$"), metadata={"description": "next_cursor"})


def _stamp_problems(stamps: list, zone: tzinfo, not_before_us: int | None,
                    future: tuple[int, int] | None = None) -> dict[int, list[str]]:
    """Rows whose dt-stamp repeats an earlier row's instant, lies before
    the retention window (it would be dropped at once, so it is refused), or
    past ``future``: (horizon, FUTURE_TOLERANCE), the latest instant an
    entry may carry (one in the future would stay the site's latest)."""
    field = DtStamp(zone=zone)
    first_row: dict[int, int] = {}
    problems: dict[int, list[str]] = {}
    for row, stamp in enumerate(stamps):
        try:
            us, _ = field.deserialize(stamp)
        except ma.ValidationError:
            continue
        if not_before_us is not None and us < not_before_us:
            problems[row] = [
                f"Older than the retention window (LIVE_RETENTION_DAYS): must be at or after "
                f"{timeutil.us_to_iso(not_before_us)}."
            ]
        elif future is not None and us > future[0]:
            problems[row] = [timeutil.future_message(us, *future)]
        elif us in first_row:
            problems[row] = [f"Same instant as row {first_row[us]}: one entry per time in a post."]
        else:
            first_row[us] = row
    return problems


def _merge(errors: dict, more: dict) -> dict:
    for key, value in more.items():
        if key in errors and isinstance(errors[key], dict) and isinstance(value, dict):
            _merge(errors[key], value)
        elif key in errors and isinstance(errors[key], list) and isinstance(value, list):
            errors[key] = errors[key] + value
        else:
            errors[key] = value
    return errors


def load_live(payload, zone: tzinfo, not_before_us: int | None = None,
              future: tuple[int, int] | None = None) -> list[dict]:
    """Validated live entries of a post in either form, in row order.

    Errors name column and row: column form ``{"soc": {"2": [...]}}``,
    row form ``{"2": {"soc": [...]}}``. Raises ValidationError listing
    every problem.
    """
    if isinstance(payload, dict):
        errors: dict = {}
        try:
            columns = LiveColumnsSchema(zone=zone).load(payload)
        except ma.ValidationError as exc:
            errors = exc.messages
            columns = None
        stamps = payload.get("dt-stamp")
        if type(stamps) is list:
            problems = _stamp_problems(stamps, zone, not_before_us, future)
            if problems:
                errors = _merge(errors, {"dt-stamp": problems})
        if errors:
            raise ma.ValidationError(errors)
        names = [field.attribute or name for name, field in LiveColumnsSchema._declared_fields.items()]
        return [dict(zip(names, values, strict=True)) for values in zip(*(columns[n] for n in names), strict=True)]
    if isinstance(payload, list):
        errors = {}
        try:
            rows = LiveEntrySchema(zone=zone, many=True).load(payload)
        except ma.ValidationError as exc:
            errors = exc.messages
            rows = None
        stamps = [item.get("dt-stamp") if isinstance(item, dict) else None for item in payload]
        for row, messages in _stamp_problems(stamps, zone, not_before_us, future).items():
            _merge(errors, {row: {"dt-stamp": messages}})
        if errors:
            raise ma.ValidationError(errors)
        return rows
    raise ma.ValidationError(
        {"_schema": ["Send the column form (an object of equal-length arrays) or the row form (an array of objects)."]}
    )
