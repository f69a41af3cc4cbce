"""API keys: parsing the API_KEYS setting and recognising a presented key.

Only SHA-256 digests of the keys are kept once the setting is parsed; a key
is named everywhere else (errors, logs, Redis) by its *key id*, the first 16
hex digits of that digest, which cannot be turned back into the key.

This module imports nothing from Flask and nothing of sensorhub but its
settings, so the server can check the keys before it starts workers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from ..settings import Settings, SettingsError

ROLES = ("ingest", "read", "admin")
ALL_ORGS = "*"
# Printable ASCII without spaces: what fits in an HTTP header unquoted.
_KEY_TEXT = re.compile(r"[\x21-\x7e]+").fullmatch
_ENTRY_FIELDS = frozenset({"role", "org", "rate_limit"})
MAX_ORG_LENGTH = 128
# Shorter keys are accepted but reported at start: they can be guessed.
RECOMMENDED_KEY_LENGTH = 24


class ApiKeysError(ValueError):
    """The JSON of API_KEYS (or of the file API_KEYS_FILE names) cannot be used."""


def digest_of(key: str) -> bytes:
    # surrogatepass keeps the encoding injective for any str a client sends.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_id_of(digest: bytes) -> str:
    return digest.hex()[:16]


@dataclass(frozen=True)
class ApiKey:
    """One configured key, without the key itself."""

    key_id: str
    role: str
    org: str
    rate_limit: int | None = None
    digest: bytes = field(default=b"", repr=False)
    # Length of the key, kept only to warn about short keys at start.
    length: int = field(default=0, repr=False)


def _entry(position: int, key, spec) -> ApiKey:
    if not isinstance(key, str) or not _KEY_TEXT(key):
        # Name the entry by position: the key itself must never be echoed.
        raise ApiKeysError(f"API_KEYS entry #{position}: a key must be printable ASCII without spaces")
    digest = digest_of(key)
    where = f"API_KEYS entry #{position} (key id {key_id_of(digest)})"
    if not isinstance(spec, dict):
        raise ApiKeysError(f"{where}: expected an object with role and org")
    unknown = sorted(set(spec) - _ENTRY_FIELDS)
    if unknown:
        raise ApiKeysError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: org, rate_limit, role")
    role = spec.get("role")
    if role not in ROLES:
        raise ApiKeysError(f"{where}: role must be one of ingest, read, admin, got {role!r}")
    org = spec.get("org")
    if not isinstance(org, str) or not org or len(org) > MAX_ORG_LENGTH:
        raise ApiKeysError(f"{where}: org must be an org id (1 to {MAX_ORG_LENGTH} characters) or \"*\" for all orgs")
    rate_limit = spec.get("rate_limit")
    if rate_limit is not None and (type(rate_limit) is not int or rate_limit < 1):
        raise ApiKeysError(f"{where}: rate_limit must be a whole number of requests per second, at least 1")
    return ApiKey(key_id=key_id_of(digest), role=role, org=org, rate_limit=rate_limit, digest=digest, length=len(key))


def _refuse_duplicates(pairs) -> dict:
    # json would silently keep the last of two entries for one key.
    result = {}
    for position, (name, value) in enumerate(pairs, 1):
        if name in result:
            raise ApiKeysError(f"API_KEYS: item #{position} of an object repeats a name used before it")
        result[name] = value
    return result


def parse_api_keys(text: str) -> tuple[ApiKey, ...]:
    """Parse the JSON of API_KEYS; raises ApiKeysError, never quoting a key."""
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        # The decoder's message gives a position, not the text around it.
        raise ApiKeysError(f"API_KEYS is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(document, dict):
        raise ApiKeysError('API_KEYS must be a JSON object {"<key>": {"role": ..., "org": ...}}')
    keys = tuple(_entry(position, key, spec) for position, (key, spec) in enumerate(document.items(), 1))
    if not keys:
        raise ApiKeysError("API_KEYS is an empty object; leave it unset for open mode")
    return keys


def api_keys_of(settings: Settings) -> tuple[ApiKey, ...]:
    """The keys of ``settings`` (API_KEYS or API_KEYS_FILE); () in open mode.

    Raises SettingsError, like any setting sensorhub cannot use at start.
    """
    try:
        keys = () if settings.api_keys_text is None else parse_api_keys(settings.api_keys_text)
    except ApiKeysError as exc:
        raise SettingsError(str(exc)) from None
    if not keys and settings.require_api_keys and not settings.allow_open_api:
        raise SettingsError(
            "REQUIRE_API_KEYS=1 but no API key is configured (API_KEYS, API_KEYS_FILE): every endpoint "
            "would be open to anyone. Configure keys (docs/configuration.md, \"API keys\"), or set "
            "ALLOW_OPEN_API=1 to run open on purpose"
        )
    return keys


class KeyRing:
    """Finds the configured key matching a presented one, in constant time.

    The presented key is hashed and looked up by digest: the only
    data-dependent work touches SHA-256 digests, which a client cannot steer
    towards a configured key's digest, so response timing reveals nothing
    about any key. ``hmac.compare_digest`` confirms the match.
    """

    def __init__(self, api_keys: tuple[ApiKey, ...], make_value=lambda api_key: api_key):
        self._by_digest = {api_key.digest: (api_key.digest, make_value(api_key)) for api_key in api_keys}

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, presented: str):
        """The value stored for the matching key, or None."""
        digest = digest_of(presented)
        entry = self._by_digest.get(digest)
        if entry is None or not hmac.compare_digest(entry[0], digest):
            return None
        return entry[1]
