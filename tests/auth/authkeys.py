"""API keys and request helpers of the access-control tests."""

from __future__ import annotations

# Long random-looking keys, as a deployment would use (no short-key warning).
ALPHA_INGEST = "ak_alpha_ingest_4f9c2d7e1b8a6f3c"
ALPHA_READ = "ak_alpha_read_9e2b7c4d1a6f8e3b0"
ALPHA_ADMIN = "ak_alpha_admin_3c8e1f6a9d2b7c4e"
BETA_INGEST = "ak_beta_ingest_7d1e9b3f6c2a8e4d"
BETA_READ = "ak_beta_read_2f8a4c9e1d7b3f6a0"
ALL_READ = "ak_all_read_6b3d8f1c4e9a2d7f5"
ALL_INGEST = "ak_all_ingest_1a7c3e9f5b2d8c4a"
ALL_ADMIN = "ak_all_admin_8f4b2e7d3a9c1f6e"

KEYS = {
    ALPHA_INGEST: {"role": "ingest", "org": "alphacorp"},
    ALPHA_READ: {"role": "read", "org": "alphacorp"},
    ALPHA_ADMIN: {"role": "admin", "org": "alphacorp"},
    BETA_INGEST: {"role": "ingest", "org": "betacorp"},
    BETA_READ: {"role": "read", "org": "betacorp"},
    ALL_READ: {"role": "read", "org": "*"},
    ALL_INGEST: {"role": "ingest", "org": "*"},
    ALL_ADMIN: {"role": "admin", "org": "*"},
}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def reading(sensor: str, second: int = 0, value: float = 20.0) -> dict:
    return {"sensor": sensor, "timestamp": f"2021-11-08T21:38:{second:02d}Z", "value": value}
