"""The contract of /v1/webhooks."""

from __future__ import annotations

import marshmallow as ma

from ..events.store import EVENT_TYPES


class WebhookCreateSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    url = ma.fields.Url(
        required=True, schemes={"http", "https"}, require_tld=False, validate=ma.validate.Length(max=2048),
        metadata={"description": "Receiver; must resolve to public addresses unless WEBHOOK_ALLOW_PRIVATE=1",
                  "example": "https://example.com/hooks/sensorhub"},
    )
    secret = ma.fields.String(
        required=True, validate=ma.validate.Length(min=16, max=256),
        metadata={"description": "Key of the X-Sensorhub-Signature HMAC (never returned)"},
    )
    org = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=128),
        metadata={"description": "Only events of this org (default: all)"},
    )
    types = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(EVENT_TYPES)), load_default=None, allow_none=True,
        validate=ma.validate.Length(min=1), metadata={"description": "Only these event types (default: all)"},
    )


class WebhookSchema(ma.Schema):
    id = ma.fields.String(metadata={"example": "wh_3f2a9c0d1b7e4a55"})
    url = ma.fields.String()
    org = ma.fields.String(allow_none=True)
    types = ma.fields.List(ma.fields.String(), allow_none=True)
    created_at = ma.fields.String()


class WebhookListSchema(ma.Schema):
    webhooks = ma.fields.List(ma.fields.Nested(WebhookSchema))


class DeadLetterSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "<webhook id>:<stream id>; replay with POST .../<id>/replay"})
    webhook = ma.fields.String()
    stream_id = ma.fields.String()
    event_id = ma.fields.String()
    attempts = ma.fields.Integer()
    last_error = ma.fields.String()
    failed_at = ma.fields.String()
    org = ma.fields.String(metadata={"description": "Org of the event (absent for events of no org)"})
    webhook_deleted = ma.fields.Boolean(metadata={
        "description": "Its webhook is gone (a deletion that stopped before its dead letters were deleted with "
                       "it): it cannot be replayed; discard it with DELETE .../dead-letters/<id>"})


class DeadLetterReplaySchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "The dead letter, a pending delivery again under the same id",
                                    "example": "wh_3f2a9c0d1b7e4a55:1700000000000-0"})
    webhook = ma.fields.String(metadata={"description": "The webhook it is queued for", "example": "wh_3f2a9c0d1b7e4a55"})
    event_id = ma.fields.String()
    queued_at = ma.fields.String(metadata={"description": "When it was queued, due at once (later while the "
                                                          "webhook's circuit is open)"})


class DeadLetterListSchema(ma.Schema):
    dead_letters = ma.fields.List(ma.fields.Nested(DeadLetterSchema))


class DeadLetterQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(min=1, max=1000))
