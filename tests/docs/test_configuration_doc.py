"""docs/configuration.md lists exactly the environment variables sensorhub
reads, with the defaults ``Settings`` really has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from service.settings import Settings, parse_rollups

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|")


class RecordingEnv(dict):
    """An empty environment that remembers every name asked of it."""

    def __init__(self):
        super().__init__()
        self.asked: set[str] = set()

    def get(self, name, default=None):
        self.asked.add(name)
        return default

    def __getitem__(self, name):
        self.asked.add(name)
        raise KeyError(name)

    def __contains__(self, name):
        self.asked.add(name)
        return False


def _documented() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            name, default = match.group(1), match.group(2).strip()
            assert name not in rows, f"{name} is listed twice in {DOC.name}"
            rows[name] = default
    return rows


def _os_environ_reads(path: Path) -> set[str]:
    """Names read through os.environ.get("X"), os.environ["X"] or os.getenv("X")."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in ("os.environ.get", "os.getenv"):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
    return names


def _read_by_sensorhub() -> set[str]:
    env = RecordingEnv()
    Settings.from_env(env)
    names = set(env.asked) | _os_environ_reads(ROOT / "gunicorn.conf.py")
    for path in (ROOT / "service").rglob("*.py"):
        names |= _os_environ_reads(path)
    # Set by the test tooling for the suite itself, not a setting of the service.
    return {name for name in names if not name.startswith("SENSORHUB_TEST_")}


def test_every_variable_sensorhub_reads_is_documented():
    missing = _read_by_sensorhub() - set(_documented())
    assert not missing, f"read by sensorhub but not listed in docs/configuration.md: {sorted(missing)}"


def test_every_documented_variable_is_read_by_sensorhub():
    extra = set(_documented()) - _read_by_sensorhub()
    assert not extra, f"listed in docs/configuration.md but read nowhere: {sorted(extra)}"


def _same(name: str, documented: str, actual) -> bool:
    if actual is None or actual == ():
        return documented == "unset"
    match = re.match(r"`([^`]*)`", documented)
    if not match:
        return False
    text = match.group(1)
    if isinstance(actual, bool):
        return text == ("1" if actual else "0")
    if name == "ROLLUPS":
        return parse_rollups(text) == actual
    if isinstance(actual, (int, float)):
        try:
            return float(text) == actual
        except ValueError:
            return False
    return text == str(actual)


def test_documented_defaults_are_the_defaults_of_settings():
    defaults = Settings.from_env({})
    wrong = {
        name: (documented, getattr(defaults, name.lower()))
        for name, documented in _documented().items()
        if hasattr(defaults, name.lower()) and not _same(name, documented, getattr(defaults, name.lower()))
    }
    assert not wrong, f"documented default vs Settings: {wrong}"
