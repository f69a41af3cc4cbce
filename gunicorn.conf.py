"""gunicorn settings for sensorhub (`make run`, the container, Kubernetes).

When REDIS_URL is unset the master locks DATA_DIR (a second sensorhub on
the same directory exits at once), starts an embedded redis-server once the
port is bound and before forking workers, restarts it whenever it dies, and
stops it, AOF flushed, after the workers have drained.
With WORKER=1 (the default) the master also runs one background worker
(`python -m service.worker`: offline detection, webhook delivery) as a child
process, so a single `make run` is complete.
"""

import os
import shutil
import subprocess
import sys
import tempfile

# The gevent worker patches the standard library when it boots, after this
# file has imported redis, which holds ssl's SSLContext by direct import:
# gevent then warns (MonkeyPatchWarning) in every worker that such modules
# stay unpatched. Patching ssl here, before anything imports it from ssl,
# leaves nothing to warn about; the rest (sockets, threads) is still
# patched in the worker only: the master stays a plain process.
if os.environ.get("GUNICORN_WORKER_CLASS", "gevent") == "gevent":
    from gevent import monkey

    monkey.patch_ssl()

# prometheus_client picks its multi-process mode at import time, so the
# directory must be in the environment before anything imports it.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sensorhub-metrics-")
# A configured directory may sit on a fresh tmpfs (the container's /tmp).
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
_owns_metrics_dir = not os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])

import gunicorn.glogging  # noqa: E402
import gunicorn.util  # noqa: E402

from service.auth.keyring import api_keys_of  # noqa: E402
from service.embedded_redis import DataDirLock, EmbeddedRedis, memory_limit_bytes  # noqa: E402
from service.logs import JsonFormatter  # noqa: E402
from service.redisdb.connection import RedisRefusesCredentials, check_at_start  # noqa: E402
from service.settings import Settings, SettingsError  # noqa: E402
from service.transport import write_json_error  # noqa: E402

# gunicorn's own refusals (bad request line, headers too large) in the JSON
# error shape of every other answer; workers inherit this at fork.
gunicorn.util.write_error = write_json_error


def _refuse_to_start(message: str) -> None:
    """One JSON line naming what is wrong, exit status 1, no traceback."""
    import logging

    record = logging.LogRecord("sensorhub.start", logging.CRITICAL, __file__, 0, "%s", (message,), None)
    print(JsonFormatter().format(record), flush=True)
    sys.exit(1)


try:
    _settings = Settings.from_env()
    # Unusable API keys (or none where REQUIRE_API_KEYS asks for some) stop
    # the server here, before it forks workers.
    api_keys_of(_settings)
except SettingsError as exc:
    _refuse_to_start(f"sensorhub cannot start: {exc}")

bind = os.environ.get("BIND", f"0.0.0.0:{_settings.port}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gevent: a request waiting on Redis yields to the others without a thread
# switch; measured 15 % more reads per second than gthread on two cores
# (docs/performance.md). GUNICORN_WORKER_CLASS=gthread is the fallback.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# Threads per worker, for gthread only.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Connections one worker serves at once, idle keep-alive ones included. A
# worker at this number stops accepting and further connections wait in the
# listen backlog, unserved: at 64, 34 of 256 connections got no answer in 5 s
# (bench/read_fairness.py). More than its REDIS_MAX_CONNECTIONS is fine: a
# request waits for a pooled Redis connection (service/redisdb/connection.py).
# Keep-alive connections still move between workers (keepalive_requests).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "256"))
# Requests are short; a worker stuck longer than this is restarted.
timeout = 30
graceful_timeout = 30
# Seconds an idle keep-alive connection may hold one of those places.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "2"))
# sensorhub writes its own JSON access lines (LOG_REQUESTS).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None


class _JsonLinesLogger(gunicorn.glogging.Logger):
    # sensorhub writes its own access lines (LOG_REQUESTS); a logconfig_dict
    # alone would turn gunicorn's plain ones on as well.
    @property
    def access_log_enabled(self) -> bool:
        return False

    def access(self, resp, req, environ, request_time) -> None:
        pass


logger_class = _JsonLinesLogger
# Every line a JSON object, gunicorn's own included: its loggers hand their
# records to the root logger's handler, the one sensorhub's workers use
# (service/logs.py; configure_logging adds no second one).
logconfig_dict = {
    "root": {"level": _settings.log_level, "handlers": ["json"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
    "handlers": {"json": {"class": "service.logs.BufferedStdoutHandler", "formatter": "json"}},
    "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
}

_embedded = None
_data_dir_lock = None
_worker = None


def on_starting(server):
    global _data_dir_lock
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for name in os.listdir(metrics_dir):
        os.unlink(os.path.join(metrics_dir, name))
    if os.environ.get("REDIS_URL"):
        # A wrong password will not mend itself: refuse now, plainly. An
        # unreachable Redis may yet come (answered 503 until then).
        try:
            problem = check_at_start(_settings)
        except RedisRefusesCredentials as exc:
            _refuse_to_start(f"sensorhub cannot start: {exc}")
        if problem:
            server.log.warning("%s; requests are answered 503 until it is", problem,
                               extra={"fields": {"redis": _settings.redis_server}})
    else:
        # Before anything starts: gunicorn prints the error and exits 1.
        try:
            _data_dir_lock = DataDirLock(_settings.data_dir).acquire()
        except RuntimeError:
            if _owns_metrics_dir:
                shutil.rmtree(metrics_dir, ignore_errors=True)
            raise


def when_ready(server):
    global _embedded, _worker
    # The port is bound by now, so an instance that cannot bind never
    # starts a redis-server on the AOF.
    if _data_dir_lock is not None:
        _embedded = EmbeddedRedis(
            _settings.data_dir, maxmemory=memory_limit_bytes(_settings.redis_maxmemory),
            appendfsync=_settings.redis_appendfsync, lock=_data_dir_lock,
        )
        os.environ["REDIS_URL"] = _embedded.start()
        _embedded.supervise(logger=server.log)
        server.log.info(
            "embedded redis-server started (pid %s, data in %s, maxmemory %d MiB, restarted if it dies)",
            _embedded.process.pid, _embedded.data_dir, int(_embedded.extra_config["maxmemory"]) // 2**20,
        )
    if _settings.worker:
        from service.embedded_redis import _stop_with_parent

        # Inherits REDIS_URL (set above for an embedded Redis); dies with the master.
        _worker = subprocess.Popen([sys.executable, "-m", "service.worker"], preexec_fn=_stop_with_parent)
        server.log.info("background worker started (pid %s)", _worker.pid)
    _announce(server)


def _announce(server) -> None:
    """Where to point a browser or a gateway, in one line."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    base = f"http://{host}:{port}"
    server.log.info(
        "sensorhub ready: API %s/data, dashboard %s/, API docs %s/docs", base, base, base,
        extra={"fields": {"api": f"{base}/", "dashboard": f"{base}/", "docs": f"{base}/docs",
                          "openapi": f"{base}/openapi.json"}},
    )


def child_exit(server, worker):
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)


def on_exit(server):
    if _worker is not None and _worker.poll() is None:
        _worker.terminate()
        try:
            _worker.wait(2 * _settings.webhook_timeout + 5)
        except subprocess.TimeoutExpired:
            _worker.kill()
            _worker.wait()
        server.log.info("background worker stopped")
    if _embedded is not None:
        _embedded.stop()
        server.log.info("embedded redis-server stopped")
    if _data_dir_lock is not None:
        _data_dir_lock.release()
    if _owns_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


# Requests one keep-alive connection may carry before it is closed (the
# client reconnects): connections then move between workers, instead of
# staying on whichever worker accepted them first while others wait in the
# listen backlog (nginx's keepalive_requests does the same).
keepalive_requests = int(os.environ.get("GUNICORN_KEEPALIVE_REQUESTS", "100"))


def pre_request(worker, req):
    if keepalive_requests and req.req_number >= keepalive_requests:
        req.must_close = True


def post_request(worker, req, environ, resp):
    # A gevent greenlet only yields when it would block: a keep-alive
    # connection whose next request is already waiting is served again and
    # again while the worker's other connections wait (measured: half of 64
    # connections got no answer in 5 s; bench/read_fairness.py). Yield after
    # each request.
    if worker_class == "gevent":
        import gevent

        gevent.sleep(0)
