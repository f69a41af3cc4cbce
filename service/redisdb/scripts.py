"""Lua scripts: the text of a ``.lua`` file, the registry of an app's scripts, and ``ScriptBatch``."""

from __future__ import annotations

import re
from importlib import resources

from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from ..keys import render_lua

# A line ``--include service/<path>.lua``: Redis scripts cannot ``require``,
# so helpers shared by several scripts are put in their place at load.
_INCLUDE = re.compile(r"^--include (\S+)\.lua$", re.MULTILINE)


def lua_source(package: str, filename: str) -> str:
    """Text of a ``.lua`` file shipped next to the module that uses it, its
    ``--include`` lines replaced by the files they name and its key suffixes
    and field names rendered from ``service.keys``."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")

    def included(match: re.Match) -> str:
        owner, _, name = match.group(1).rpartition("/")
        return lua_source(owner.replace("/", "."), name + ".lua")

    return render_lua(_INCLUDE.sub(included, text))


class Scripts:
    """Every Lua script of an app, registered on its client."""

    def __init__(self, client) -> None:
        self.client = client
        self._scripts: list = []

    def register(self, package: str, filename: str):
        """Register a package's ``.lua`` file once; returns a redis-py Script.

        redis-py's Script reloads itself on NOSCRIPT, so scripts survive
        ``SCRIPT FLUSH`` and a Redis restart.
        """
        script = self.client.register_script(lua_source(package, filename))
        self._scripts.append(script)
        return script

    def __iter__(self):
        return iter(self._scripts)

    def ensure_loaded(self) -> None:
        """Load any script Redis does not have (after a flush or restart)."""
        client, scripts = self.client, self._scripts
        if not scripts:
            return
        if isinstance(client, RedisCluster):
            # SCRIPT LOAD on a cluster client reaches every primary.
            for script in scripts:
                client.script_load(script.script)
            return
        present = client.script_exists(*[s.sha for s in scripts])
        for script, exists in zip(scripts, present, strict=True):
            if not exists:
                script.sha = client.script_load(script.script)


class ScriptBatch:
    """One round trip of commands and script calls whose scripts survive NOSCRIPT.

    Queue plain commands on ``batch.pipe`` and scripts with ``batch.script``;
    ``execute`` answers the results in order. A script call that meets
    NOSCRIPT (a node restarted, failed over or flushed its cache) runs again
    with EVAL, which also caches the script; any other error is raised.

    ``trailer(pipe) -> n`` queues commands that must follow every script
    call, such as WAIT for replicas: they end the first pipeline and, after
    a re-run, end the re-run's pipeline too (same connection per node, so a
    WAIT covers the re-run's writes); the last ``n`` results are theirs.
    """

    def __init__(self, client, trailer=None) -> None:
        self.client = client
        self.pipe = client.pipeline(transaction=False)
        self.trailer = trailer
        self._scripts: dict[int, tuple] = {}

    def script(self, script, keys: list, args: list) -> None:
        """Queue a registered script's call (KEYS, ARGV).

        redis-py's ClusterPipeline refuses its ``evalsha`` helper (redis-py
        #2914) but routes an ``EVALSHA`` sent through ``execute_command`` by
        its keys like any command, so this works on cluster pipelines too.
        """
        self._scripts[len(self.pipe)] = (script, keys, args)
        self.pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    def execute(self) -> list:
        trailing = self.trailer(self.pipe) if self.trailer else 0
        if not len(self.pipe):
            return []
        results = self.pipe.execute(raise_on_error=False)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError) and i in self._scripts]
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, NoScriptError):
                raise result
        if missing:
            again = self.client.pipeline(transaction=False)
            for index in missing:
                script, keys, args = self._scripts[index]
                again.execute_command("EVAL", script.script, len(keys), *keys, *args)
            if trailing:
                self.trailer(again)
            rerun = again.execute()
            for index, result in zip(missing, rerun, strict=False):
                results[index] = result
            if trailing:
                results[-trailing:] = rerun[len(missing) :]
        return results
