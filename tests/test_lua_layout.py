"""Lua scripts take the Redis key layout from service/keys.py: no ``.lua``
file spells a key suffix, separator or hash field name of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service import keys

SERVICE = Path(__file__).resolve().parent.parent / "service"
SCRIPTS = sorted(SERVICE.rglob("*.lua"))

# A literal made of name characters and colons, with a colon and a letter:
# a piece of a key name such as ':r:', ':meta' or 'sensor:{'.
KEY_PIECE = re.compile(r"(?=.*:)(?=.*[A-Za-z])[\w:{}.-]+")
LONG_BRACKET = re.compile(r"\[(=*)\[")


def string_literals(source: str) -> list[str]:
    """The string literals of a Lua text, comments skipped (escapes kept as written)."""
    literals, i = [], 0
    while i < len(source):
        if source.startswith("--", i):
            long = LONG_BRACKET.match(source, i + 2)
            if long:
                end = source.index("]" + long.group(1) + "]", long.end())
                i = end + len(long.group(1)) + 2
            else:
                newline = source.find("\n", i)
                i = len(source) if newline < 0 else newline + 1
        elif source[i] in "'\"":
            quote, j = source[i], i + 1
            while source[j] != quote:
                j += 2 if source[j] == "\\" else 1
            literals.append(source[i + 1 : j])
            i = j + 1
        elif LONG_BRACKET.match(source, i):
            long = LONG_BRACKET.match(source, i)
            end = source.index("]" + long.group(1) + "]", long.end())
            literals.append(source[long.end() : end])
            i = end + len(long.group(1)) + 2
        else:
            i += 1
    return literals


def test_the_lexer_finds_literals_and_skips_comments():
    source = "-- ':meta'\n--[[ 'org' ]] local a = 'x' .. \"y\\\"z\" .. [[w]] -- 'gen'\nreturn '(' .. [==[v]==]"
    assert string_literals(source) == ["x", 'y\\"z', "w", "(", "v"]


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(SERVICE).as_posix())
def test_no_script_spells_a_key_suffix_or_field_name(path):
    layout = set(keys.lua_names().values())
    spelled = [
        literal
        for literal in string_literals(path.read_text(encoding="utf-8"))
        if literal in layout or KEY_PIECE.fullmatch(literal)
    ]
    assert spelled == [], f"{path.name} spells {spelled}: use {{{{NAME}}}} placeholders of service/keys.py"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(SERVICE).as_posix())
def test_every_placeholder_of_a_script_renders(path):
    rendered = keys.render_lua(path.read_text(encoding="utf-8"))
    assert "{{" not in rendered and "}}" not in rendered


def test_a_placeholder_renders_as_the_quoted_value_of_keys_py():
    assert keys.render_lua("k .. {{READINGS_SUFFIX}} .. g") == "k .. ':r:' .. g"
    assert keys.render_lua("HGET(k, {{SensorMeta.ORG}})") == f"HGET(k, '{keys.SENSOR_ORG_FIELD}')"


@pytest.mark.parametrize("unknown", ["{{READING_SUFFIX}}", "{{SensorMeta.org}}", "{{}}", "{{keys.SEPARATOR}}"])
def test_an_unknown_placeholder_fails_at_load(unknown):
    with pytest.raises(KeyError, match="not a key suffix or field"):
        keys.render_lua(f"return {unknown}")


def test_key_builders_and_scripts_share_the_suffixes():
    assert keys.sensor_bucket("s", 2, 7) == keys.sensor("s") + keys.READINGS_SUFFIX + "2" + keys.SEPARATOR + "7"
    assert keys.sensor_meta("s") == keys.sensor("s") + keys.META_SUFFIX
    assert keys.sensor_heartbeat("s") == keys.sensor("s") + keys.HEARTBEAT_SUFFIX
    assert keys.sensor_outbox("s") == keys.sensor("s") + keys.OUTBOX_SUFFIX
    assert keys.site_day_minutes("x", "2024-01-02") == keys.site("x") + keys.DAY_SUFFIX + "2024-01-02" + (
        keys.MINUTES_SUFFIX
    )
    assert keys.webhook_dead_index_of("o") == keys.WEBHOOK_DEAD_INDEX + keys.SEPARATOR + "o"
