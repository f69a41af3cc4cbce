"""MAC addresses: validation and the one normal form sensorhub stores."""

from __future__ import annotations

import re

# Six pairs of hex digits separated consistently by ':' or '-', any case.
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")
MSG_MAC = "Not a valid MAC address: six pairs of hex digits separated by ':' or '-', e.g. 02:00:00:00:00:00."
MAC_PATTERN = r"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$"


def normalise_mac(text) -> str:
    """``02-AB-...`` -> ``02:ab:...``; ValueError if not a MAC address.

    The normal form (lower case, colons) is also the sensor id of a sensor
    known by its MAC address: it fits the sensor id charset.
    """
    if type(text) is not str or not _MAC.fullmatch(text):
        raise ValueError(MSG_MAC)
    return text.lower().replace("-", ":")
