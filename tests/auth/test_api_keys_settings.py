"""API_KEYS / API_KEYS_FILE: parsed at start, refused clearly, never echoed."""

from __future__ import annotations

import hmac
import json

import pytest

from service.auth import keyring
from service.auth.keyring import KeyRing, api_keys_of, digest_of, parse_api_keys
from service.settings import Settings, SettingsError

SECRET = "sk_live_5b1f0c9e7a2d4c6b8e3f1a0d"


def env_with(keys) -> dict:
    return {"API_KEYS": json.dumps(keys)}


def test_api_keys_are_read_with_role_org_and_rate_limit():
    (api_key,) = api_keys_of(Settings.from_env(env_with({SECRET: {"role": "ingest", "org": "alphacorp", "rate_limit": 50}})))
    assert (api_key.role, api_key.org, api_key.rate_limit) == ("ingest", "alphacorp", 50)
    assert api_key.digest == digest_of(SECRET)


def test_no_keys_configured_means_open_mode():
    assert api_keys_of(Settings.from_env({})) == ()


def test_api_keys_file_is_read(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({SECRET: {"role": "admin", "org": "*"}}))
    (api_key,) = api_keys_of(Settings.from_env({"API_KEYS_FILE": str(path)}))
    assert (api_key.role, api_key.org, api_key.rate_limit) == ("admin", "*", None)


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"API_KEYS": "{not json"}, "not valid JSON"),
        ({"API_KEYS": json.dumps([SECRET])}, "must be a JSON object"),
        ({"API_KEYS": "{}"}, "empty object"),
        (env_with({SECRET: {"role": "owner", "org": "alphacorp"}}), "role must be one of"),
        (env_with({SECRET: {"org": "alphacorp"}}), "role must be one of"),
        (env_with({SECRET: {"role": "read"}}), "org must be"),
        (env_with({SECRET: {"role": "read", "org": ""}}), "org must be"),
        (env_with({SECRET: {"role": "read", "org": "*", "rate-limit": 5}}), "unknown field(s) rate-limit"),
        (env_with({SECRET: {"role": "read", "org": "*", "rate_limit": 0}}), "rate_limit"),
        (env_with({SECRET: {"role": "read", "org": "*", "rate_limit": 2.5}}), "rate_limit"),
        (env_with({SECRET: {"role": "read", "org": "*", "rate_limit": True}}), "rate_limit"),
        (env_with({SECRET: "admin"}), "expected an object"),
        (env_with({"key with space": {"role": "read", "org": "*"}}), "printable ASCII"),
        ({"API_KEYS": f'{{"{SECRET}": {{"role": "read", "org": "*"}}, "{SECRET}": {{"role": "admin", "org": "*"}}}}'},
         "repeats a name"),
        ({"API_KEYS": "{}", "API_KEYS_FILE": "/etc/keys.json"}, "not both"),
        ({"API_KEYS_FILE": "/nonexistent/keys.json"}, "cannot be read"),
    ],
)
def test_invalid_api_keys_are_refused_at_start_without_quoting_a_key(env, complaint):
    with pytest.raises(SettingsError) as caught:
        api_keys_of(Settings.from_env(env))
    message = str(caught.value)
    assert complaint in message
    assert SECRET not in message and "key with space" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_empty_api_keys_file_is_refused(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("\n")
    with pytest.raises(SettingsError, match="is empty"):
        api_keys_of(Settings.from_env({"API_KEYS_FILE": str(path)}))


def test_settings_and_parsed_keys_hold_no_key_text():
    settings = Settings.from_env(env_with({SECRET: {"role": "read", "org": "alphacorp"}}))
    api_keys = api_keys_of(settings)
    assert SECRET not in repr(settings)
    assert SECRET not in repr(api_keys)
    assert SECRET.encode() not in repr(vars(api_keys[0])).encode()


def test_key_ring_finds_the_key_presented_and_nothing_else():
    api_keys = parse_api_keys(json.dumps({SECRET: {"role": "read", "org": "*"}, "other_key_0123456789abcdef": {"role": "admin", "org": "*"}}))
    ring = KeyRing(api_keys)
    assert ring.lookup(SECRET).role == "read"
    assert ring.lookup("other_key_0123456789abcdef").role == "admin"
    assert ring.lookup(SECRET[:-1]) is None
    assert ring.lookup(SECRET + "x") is None
    assert ring.lookup("") is None
    assert ring.lookup("sk_live_\udcff") is None


def test_key_ring_compares_digests_in_constant_time(monkeypatch):
    calls = []
    compare_digest = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare_digest(a, b)

    ring = KeyRing(parse_api_keys(json.dumps({SECRET: {"role": "read", "org": "*"}})))
    monkeypatch.setattr(keyring.hmac, "compare_digest", spy)
    assert ring.lookup(SECRET) is not None
    assert calls == [(digest_of(SECRET), digest_of(SECRET))]
    # The comparison decides: a refusal there refuses the key.
    monkeypatch.setattr(keyring.hmac, "compare_digest", lambda a, b: False)
    assert ring.lookup(SECRET) is None


def test_key_ring_keeps_digests_only():
    ring = KeyRing(parse_api_keys(json.dumps({SECRET: {"role": "read", "org": "*"}})))
    assert SECRET not in repr(vars(ring))
    assert SECRET.encode() not in repr(vars(ring)).encode()


def test_the_application_refuses_unusable_keys_at_start(settings):
    from service import create_app

    with pytest.raises(SettingsError, match="not valid JSON") as caught:
        create_app(settings.replace(api_keys_text="{" + json.dumps(SECRET)))
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("env", [{"REQUIRE_API_KEYS": "1"}, {"REQUIRE_API_KEYS": "1", "API_KEYS": ""}])
def test_a_deployment_that_requires_api_keys_refuses_to_start_open(env):
    with pytest.raises(SettingsError, match="REQUIRE_API_KEYS=1 but no API key is configured.*ALLOW_OPEN_API=1"):
        api_keys_of(Settings.from_env(env))


def test_open_mode_where_keys_are_required_only_when_asked_for_explicitly():
    assert api_keys_of(Settings.from_env({"REQUIRE_API_KEYS": "1", "ALLOW_OPEN_API": "1"})) == ()
    assert len(api_keys_of(Settings.from_env({"REQUIRE_API_KEYS": "1", "API_KEYS": json.dumps(
        {SECRET: {"role": "read", "org": "*"}})}))) == 1
