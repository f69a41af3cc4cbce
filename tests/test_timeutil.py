"""Timestamps as RFC 3339 (section 5.6) writes them: "T" or "t" or a space
between date and time, "Z" or "z" for UTC; every spelling of an instant is
that instant."""

from __future__ import annotations

import pytest

from service import timeutil

INSTANT_US = 1_764_662_400_000_000  # 2025-12-02T08:00:00Z


@pytest.mark.parametrize("text", [
    "2025-12-02T08:00:00Z",
    "2025-12-02T08:00:00z",
    "2025-12-02t08:00:00Z",
    "2025-12-02t08:00:00z",
    "2025-12-02 08:00:00z",
    "2025-12-02T09:00:00+01:00",
    "2025-12-02t09:00:00+01:00",
])
def test_every_rfc_3339_spelling_of_an_instant_is_that_instant(text):
    us, iso = timeutil.parse_instant(text)
    assert us == INSTANT_US
    assert iso in ("2025-12-02T08:00:00Z", "2025-12-02T09:00:00+01:00")


def test_a_lowercase_z_keeps_its_fraction_and_is_written_back_as_z():
    assert timeutil.parse_instant("2025-12-02t08:00:00.25z") == (INSTANT_US + 250_000, "2025-12-02T08:00:00.250000Z")


@pytest.mark.parametrize("text", ["2025-12-02T08:00:00zz", "2025-12-02T08:00:00+01:00z", "z", "2025-13-02T08:00:00z"])
def test_a_lowercase_z_does_not_make_invalid_text_valid(text):
    with pytest.raises(ValueError, match="Not a valid ISO 8601 timestamp"):
        timeutil.parse_instant(text)


def test_a_query_instant_may_end_in_a_lowercase_z():
    assert timeutil.parse_query_instant("2025-12-02T08:00:00z") == INSTANT_US
