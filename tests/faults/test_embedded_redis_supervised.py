"""The embedded redis-server of `make run` heals itself and owns its DATA_DIR.

Killed (as an OOM kill would), it is restarted from its append-only file at
the same address, with no person involved: /healthz answers 503 while it is
down and 204 once it is back, and nothing acknowledged is lost: by default
(REDIS_APPENDFSYNC=always) Redis answers a write only once it is in the file. A second
sensorhub on the same DATA_DIR exits before starting anything, and one that
cannot bind its port never starts a redis-server on the AOF.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests

from service.embedded_redis import DataDirInUse, DataDirLock, EmbeddedRedis
from tests.servers import ROOT, GunicornServer

pytestmark = pytest.mark.slow

SENSORS = 20


def _batch(number: int) -> list[dict]:
    instant = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1) + timedelta(seconds=number)
    return [{"sensor": f"heal-{n}", "timestamp": instant.isoformat(), "value": n} for n in range(SENSORS)]


def _embedded_server(tmp_path, data_dir, **env) -> GunicornServer:
    server = GunicornServer({"DATA_DIR": str(data_dir), "WORKER": "0", "LOG_REQUESTS": "0", **env},
                            log_path=tmp_path / "gunicorn.log")
    server.env.pop("REDIS_URL", None)
    return server


def _redis_pid(log_path) -> int:
    pids = re.findall(r"embedded redis-server (?:started|restarted) \(pid (\d+)", log_path.read_text())
    assert pids, log_path.read_text()[-2000:]
    return int(pids[-1])


def _post(url: str, number: int) -> bool:
    try:
        return requests.post(f"{url}/data", json=_batch(number), timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_a_killed_embedded_redis_is_restarted_and_keeps_every_acknowledged_reading(tmp_path):
    server = _embedded_server(tmp_path, tmp_path / "data").start()
    try:
        acknowledged = [n for n in range(30) if _post(server.url, n)]
        assert len(acknowledged) == 30
        first = _redis_pid(server.log_path)
        os.kill(first, signal.SIGKILL)

        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = requests.get(f"{server.url}/healthz", timeout=5).status_code
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == 204 and 503 in seen:
                break
            time.sleep(0.05)
        assert seen[-2:] == [503, 204], seen

        # Redis answers (and /healthz turns 204) a moment before the
        # supervisor logs the restart, so the new pid may take a beat to show.
        deadline = time.monotonic() + 10
        while _redis_pid(server.log_path) == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _redis_pid(server.log_path) != first
        log_text = server.log_path.read_text()
        assert "embedded redis-server restarted" in log_text
        # A SIGKILL is no clean exit: the log never says "code 0" for it.
        assert "embedded redis-server exited" in log_text and "exited (code 0)" not in log_text
        acknowledged += [n for n in range(30, 40) if _post(server.url, n)]
        assert len(acknowledged) == 40
        for n in (0, SENSORS - 1):
            stats = requests.get(f"{server.url}/statistics/heal-{n}", timeout=5).json()
            assert stats["count"] == 40, stats
    finally:
        assert server.stop() == 0


def _unix_socket_of(pid: int) -> str:
    """The path of the unix socket process ``pid`` listens on (from /proc)."""
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and f"socket:[{fields[6]}]" in inodes:
            return fields[7]
    raise AssertionError(f"redis-server {pid} listens on no unix socket")


@pytest.mark.parametrize("setting, expected", [({}, "always"), ({"REDIS_APPENDFSYNC": "everysec"}, "everysec")])
def test_the_embedded_redis_syncs_its_append_only_file_as_configured(tmp_path, setting, expected):
    server = _embedded_server(tmp_path, tmp_path / "data", **setting).start()
    try:
        client = redis.Redis(unix_socket_path=_unix_socket_of(_redis_pid(server.log_path)))
        assert client.config_get("appendfsync") == {"appendfsync": expected}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        assert server.stop() == 0


def test_a_second_sensorhub_on_the_same_data_dir_exits_before_starting_anything(tmp_path):
    data_dir = tmp_path / "data"
    first = _embedded_server(tmp_path, data_dir).start()
    try:
        assert _post(first.url, 0)
        (tmp_path / "second").mkdir()
        second = _embedded_server(tmp_path / "second", data_dir)
        output = subprocess.run(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
            cwd=ROOT, env=second.env, capture_output=True, text=True, timeout=60,
        )
        assert output.returncode != 0
        assert "is in use by another sensorhub" in output.stderr
        assert "embedded redis-server started" not in output.stderr
        assert "Listening at" not in output.stderr

        assert requests.get(f"{first.url}/healthz", timeout=5).status_code == 204
        assert _post(first.url, 1)
        assert requests.get(f"{first.url}/statistics/heal-0", timeout=5).json()["count"] == 2
    finally:
        assert first.stop() == 0


def test_an_instance_that_cannot_bind_its_port_starts_no_redis_on_the_data_dir(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _embedded_server(tmp_path, tmp_path / "data")
        server.env.update({"PORT": str(port), "BIND": f"127.0.0.1:{port}"})
        output = subprocess.run(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
            cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120,
        )
    assert output.returncode != 0
    assert "embedded redis-server started" not in output.stderr
    leftovers = {path.name for path in (tmp_path / "data").iterdir()} - {DataDirLock.FILENAME}
    assert leftovers == set(), leftovers


def test_the_data_dir_lock_names_its_holder_and_is_free_once_released(tmp_path):
    held = DataDirLock(tmp_path).acquire()
    with pytest.raises(DataDirInUse, match=rf"pid {os.getpid()}"):
        DataDirLock(tmp_path).acquire()
    held.release()
    DataDirLock(tmp_path).acquire().release()


def test_the_embedded_redis_keeps_the_lock_while_it_lives(tmp_path):
    lock = DataDirLock(tmp_path).acquire()
    server = EmbeddedRedis(tmp_path, appendonly=False, lock=lock)
    server.start()
    try:
        lock.release()  # the process that took it lets go; the server still holds it
        with pytest.raises(DataDirInUse):
            DataDirLock(tmp_path).acquire()
    finally:
        server.stop()
    DataDirLock(tmp_path).acquire().release()


def test_a_supervised_server_is_restarted_at_the_same_address_with_its_data(tmp_path):
    server = EmbeddedRedis(tmp_path, appendfsync="always")
    url = server.start()
    server.supervise(backoff=0.1)
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=0.5)
        client.set("kept", "yes")
        first = server.process.pid
        server.process.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.get("kept") == b"yes":
                    break
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        assert client.get("kept") == b"yes"
        assert server.url == url and server.process.pid != first
    finally:
        server.stop()
    assert server.process is None
