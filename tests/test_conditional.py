"""Conditional GETs (service/conditional.py): If-None-Match compares weakly
(RFC 9110 13.1.2), so the ETag a client holds gets its 304 in every form it
may come back in: as sent, weakened by a cache (W/), with the coding
flask-compress appends, in a list, or ``*``; on every conditional answer,
compressed or not."""

from __future__ import annotations

import time

import pytest

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}

FORMS = {
    "plain": lambda tag: f'"{tag}"',
    "weak": lambda tag: f'W/"{tag}"',
    "coding-suffixed": lambda tag: f'"{tag}:gzip"',
    "weak coding-suffixed": lambda tag: f'W/"{tag}:gzip"',
    "list": lambda tag: f'"0123abcd", W/"{tag}", "ffff"',
    "star": lambda tag: "*",
}
# What the 304 sends back: the held ETag, strong (the answer's own is strong).
ANSWERED = {
    "plain": lambda tag: f'"{tag}"',
    "weak": lambda tag: f'"{tag}"',
    "coding-suffixed": lambda tag: f'"{tag}:gzip"',
    "weak coding-suffixed": lambda tag: f'"{tag}:gzip"',
    "list": lambda tag: f'"{tag}"',
    "star": lambda tag: f'"{tag}"',
}


@pytest.fixture
def urls(client) -> dict[str, str]:
    """A conditional answer of each kind, large enough to be compressed."""
    now = time.time()
    body = [{"sensor": f"s-{i:03d}", "timestamp": now - 30, "value": 20 + i / 10} for i in range(60)]
    assert client.post("/data", json=body).status_code == 200
    # A fixed window (the default end is now, which moves).
    start, end = (time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(now + hours * 3600)) for hours in (-1, 1))
    return {
        "sensors": "/sensors",
        "changes": f"/sensors/changes?since={int((now - 60) * 1000)}",
        "series": f"/v1/series?sensors=s-001,s-002&bucket=15m&start={start}&end={end}",
    }


def opaque(etag: str) -> str:
    """The opaque tag of an ETag header without its coding suffix."""
    assert etag.startswith('"') and etag.endswith('"')
    return etag[1:-1].split(":")[0]


@pytest.mark.parametrize("coding", [IDENTITY, GZIP], ids=["identity", "gzip"])
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("kind", ["sensors", "changes", "series"])
def test_if_none_match_naming_the_content_in_any_form_is_a_304(client, urls, kind, form, coding):
    first = client.get(urls[kind], headers=coding)
    assert first.status_code == 200
    tag = opaque(first.headers["ETag"])
    again = client.get(urls[kind], headers={**coding, "If-None-Match": FORMS[form](tag)})
    assert (again.status_code, again.data) == (304, b"")
    assert again.headers["ETag"] == ANSWERED[form](tag)
    assert again.headers["Cache-Control"] == "private, no-cache"


def test_a_large_answer_asked_with_gzip_is_compressed_and_tagged_with_its_coding(client, urls):
    for url in (urls["sensors"], urls["changes"]):
        packed = client.get(url, headers=GZIP)
        assert packed.headers["Content-Encoding"] == "gzip" and packed.headers["ETag"].endswith(':gzip"')


@pytest.mark.parametrize("coding", [IDENTITY, GZIP], ids=["identity", "gzip"])
@pytest.mark.parametrize("held", [
    lambda tag: 'W/"0123abcd"',
    lambda tag: f'"{tag}0"',           # another tag that merely starts with this one
    lambda tag: f'W/"{tag[:-1]}"',
    lambda tag: f'"0123abcd", W/"{tag[1:]}:gzip"',
], ids=["weak other", "longer tag", "weak prefix", "list of others"])
@pytest.mark.parametrize("kind", ["sensors", "changes", "series"])
def test_if_none_match_naming_other_content_gets_the_answer(client, urls, kind, held, coding):
    tag = opaque(client.get(urls[kind], headers=coding).headers["ETag"])
    answer = client.get(urls[kind], headers={**coding, "If-None-Match": held(tag)})
    assert answer.status_code == 200 and answer.data
    assert opaque(answer.headers["ETag"]) == tag
