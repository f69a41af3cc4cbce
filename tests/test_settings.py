"""Settings come from the environment, with defaults and clear errors."""

from __future__ import annotations

from datetime import UTC

import pytest

from service.settings import Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.port == 8080
    assert settings.redis_url is None
    assert settings.dedup_ttl == 48 * 3600
    assert settings.max_batch == 10_000
    assert settings.assume_tz is None
    assert settings.redis_maxmemory == "50%"
    assert settings.redis_appendfsync == "always"
    assert settings.future_tolerance == 600


def test_values_are_read_from_the_environment():
    settings = Settings.from_env(
        {"PORT": "9000", "REDIS_URL": "unix:///tmp/r.sock", "REDIS_CLUSTER": "true", "ASSUME_TZ": "UTC", "LOG_REQUESTS": "0"}
    )
    assert settings.port == 9000 and settings.redis_cluster and settings.assume_tz is UTC
    assert settings.log_requests is False


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PORT": "http"}, "PORT must be an integer"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with"),
        ({"DEDUP_TTL": "3600"}, "DEDUP_TTL must exceed"),
        ({"BUCKET_SECONDS": "7000"}, "BUCKET_SECONDS must divide a day"),
        ({"ASSUME_TZ": "Mars/Olympus"}, "IANA time zone"),
        ({"REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER must be a boolean"),
        ({"REDIS_MAXMEMORY": "lots"}, "REDIS_MAXMEMORY must be a share such as 50%"),
        ({"REDIS_MAXMEMORY": "150%"}, "at most 100%"),
        ({"REDIS_MAXMEMORY": "100kb"}, "at least 1mb"),
        ({"REDIS_APPENDFSYNC": "no"}, "REDIS_APPENDFSYNC must be always or everysec"),
        ({"TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "TRUSTED_PROXIES must be comma-separated CIDRs"),
        ({"FUTURE_TOLERANCE": "10m"}, "FUTURE_TOLERANCE must be an integer, got '10m'"),
        ({"FUTURE_TOLERANCE": "-60"}, "FUTURE_TOLERANCE must be at least 0, got -60"),
    ],
)
def test_bad_values_fail_at_start_with_a_clear_message(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_future_tolerance_is_read_in_seconds():
    assert Settings.from_env({"FUTURE_TOLERANCE": "0"}).future_tolerance == 0
    assert Settings.from_env({"FUTURE_TOLERANCE": "3600"}).future_tolerance == 3600


def test_the_redis_server_is_named_by_host_and_port_and_its_password_never_shown():
    settings = Settings.from_env({"REDIS_URL": "redis://:hunter2@redis.internal:6380/0"})
    assert settings.redis_server == "redis.internal:6380"
    assert "hunter2" not in repr(settings)
