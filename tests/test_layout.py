"""Domains share vocabulary through shared modules, not through each other.

A domain package (readings, sensors, rooms, ...) imports shared modules
(``fields``, ``timeutil``, ``windows``, ``units``, ``keys``, ``auth``, ...)
and another domain only where it uses that domain's behaviour: its store,
listed in ALLOWED with the reason. Never another domain's routes or schemas.
"""

from __future__ import annotations

import ast
from pathlib import Path

import service

SERVICE = Path(service.__file__).parent
DOMAINS = frozenset(
    {"readings", "sensors", "rooms", "sites", "orgs", "toohot", "events", "heartbeats", "webhooks", "dashboard", "ops", "history",
     "lineproto"}
)
# Shared modules the domains take their vocabulary from: they import no domain.
VOCABULARY = ("fields", "timeutil", "windows", "units", "keys")

# (importing module, imported module): why the one uses the other's behaviour.
ALLOWED = {
    ("service.readings.store", "service.history.store"):
        "every new reading goes into the history tiers in the ingest call that accepts it",
    ("service.sensors.routes", "service.history.query"):
        "series and range aggregates older than RETENTION are joined from the raw readings and the history tiers",
    ("service.heartbeats.store", "service.events.store"):
        "heartbeats publish sensor.offline and sensor.online through the event store",
    ("service.toohot.store", "service.orgs.store"):
        "too hot or not answers with the org's effective unit, time zone and threshold (and their defaults)",
    ("service.rooms.store", "service.readings.validation"):
        "room readings go through the batch checker of POST /data before the readings store ingests them",
    ("service.webhooks.schemas", "service.events.store"):
        "a webhook subscribes to the event types the event store publishes",
    ("service.webhooks.store", "service.events.store"):
        "webhook fan-out reads the published events from the event store",
    ("service.lineproto.parsing", "service.readings.validation"):
        "line protocol readings are grouped as the batch checker of POST /data groups them, for the readings store",
    ("service.lineproto.routes", "service.readings.validation"):
        "a line protocol write refused by a check of POST /data's (its units, MAX_BATCH) is answered by line",
    ("service.lineproto.routes", "service.readings.intake"):
        "line protocol writes take POST /data's way into the readings store: org scope, units, claims, counts",
    ("service.rooms.store", "service.readings.store"):
        "room readings are ingested by the readings store, with its dedup and statistics",
    ("service.rooms.store", "service.sensors.store"):
        "a room's members and their trailing windows come from the sensor registry",
    ("service.sensors.store", "service.heartbeats.store"):
        "the sensor overview reads each sensor's liveness and last reading from the heartbeat store",
    ("service.toohot.store", "service.readings.store"):
        "thermometer readings are ingested by the readings store, whose dedup decides which value counts",
    ("service.toohot.store", "service.sites.store"):
        "a site first seen in a thermometer reading is registered in the site store",
    ("service.toohot.store", "service.events.store"):
        "a day turning too hot publishes site.too_hot through the event store",
    ("service.toohot.store", "service.sensors.store"):
        "a sensor first heard in a thermometer reading is labelled with its kind, site and unit by the sensor registry",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVICE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(module: str) -> bool:
    return SERVICE.parent.joinpath(*module.split("."), "__init__.py").is_file()


def is_module(module: str) -> bool:
    path = SERVICE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or path.joinpath("__init__.py").is_file()


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Every ``service`` module the file imports (or ``source`` would, in its
    place), at any depth of its code; ``from package import module`` counts
    as importing the module."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if is_package(source) and is_module(candidate) else source)
    return {name for name in found if name == "service" or name.startswith("service.")}


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


def domain_imports() -> dict[tuple[str, str], str]:
    """(importer, imported) -> file, for every import of one domain by another."""
    pairs = {}
    for path in sorted(SERVICE.rglob("*.py")):
        importer = module_name(path)
        own = domain_of(importer)
        if own is None:
            continue
        for imported in imported_modules(path):
            if domain_of(imported) not in (None, own):
                pairs[(importer, imported)] = str(path.relative_to(SERVICE.parent))
    return pairs


def test_a_domain_imports_another_domain_only_where_the_allowed_list_says_why():
    unexplained = {pair: where for pair, where in domain_imports().items() if pair not in ALLOWED}
    assert not unexplained, (
        "Domain-to-domain imports outside ALLOWED (share vocabulary through service/fields.py, timeutil.py, "
        "windows.py or units.py; import another domain's store only for its behaviour, and list it in ALLOWED "
        "with the reason): " + "; ".join(f"{where}: {a} -> {b}" for (a, b), where in sorted(unexplained.items()))
    )


def test_every_allowed_import_is_still_made():
    stale = set(ALLOWED) - set(domain_imports())
    assert not stale, f"ALLOWED lists imports no longer made; remove them: {sorted(stale)}"


def test_the_allowed_list_admits_no_routes_or_schemas():
    for importer, imported in ALLOWED:
        assert imported.rpartition(".")[2] not in ("routes", "schemas", "__init__"), (importer, imported)
        assert domain_of(imported) != domain_of(importer)


def test_the_shared_vocabulary_imports_no_domain():
    for name in VOCABULARY:
        path = SERVICE / f"{name}.py"
        reached = {module for module in imported_modules(path) if domain_of(module)}
        assert not reached, f"service/{name}.py imports domains: {sorted(reached)}"


def test_the_walk_finds_relative_absolute_and_nested_imports():
    source = (
        "from ..sensors.schemas import MSG_MAC\n"
        "import service.orgs.routes\n"
        "from .. import toohot\n"
        "from ..events import store\n"
        "def later():\n"
        "    from service.sites.schemas import COLUMNS\n"
    )
    found = imported_modules(SERVICE / "rooms" / "routes.py", source)
    assert found == {
        "service.sensors.schemas", "service.orgs.routes", "service.toohot", "service.events.store", "service.sites.schemas",
    }
