"""k8s/manifest.yaml and k8s/redis-ha.yaml: valid against the pinned
Kubernetes schemas, and shaped for production (two replicas on 8080, probes
on the health paths, Redis with AOF on a volume, the image README builds)
and secure by default (Redis behind a password from a Secret, with its
dangerous commands disabled, a memory limit below its container's and a
NetworkPolicy; pinned images; no key shipped)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from dockerfile_model import REPO, parse

MANIFESTS = sorted((REPO / "k8s").glob("*.yaml"))
NAMESPACE = "sensorhub"
APP_PORT = 8080
REDIS_PASSWORD_SECRET = {"name": "sensorhub-redis", "key": "password"}
# Commands that wipe, reconfigure or stall a whole Redis; disabled in every Redis of k8s/.
DISABLED_COMMANDS = {"FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "KEYS", "MODULE"}
# Commands sensorhub sends (service/), which must stay.
SENSORHUB_COMMANDS = {"EVAL", "EVALSHA", "SCRIPT", "SCAN", "UNLINK", "WAIT", "INFO", "PING", "CLUSTER", "AUTH", "HELLO"}
REDIS_WORKLOADS = [("StatefulSet", "redis"), ("StatefulSet", "redis-cluster")]


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], dict]:
    found = {}
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = document
    return found


@pytest.fixture(scope="module")
def app(resources) -> dict:
    return resources[("Deployment", "sensorhub")]


@pytest.fixture(scope="module")
def worker(resources) -> dict:
    return resources[("Deployment", "sensorhub-worker")]


@pytest.fixture(scope="module")
def redis(resources) -> dict:
    return resources[("StatefulSet", "redis")]


def _pod(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def _container(workload: dict, name: str | None = None) -> dict:
    containers = _pod(workload)["containers"]
    if name is None:
        assert len(containers) == 1
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def _container_port(container: dict, port) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container.get("ports", []) if p.get("name") == port)


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile defines no {name}"
    return match.group(1)


def test_every_manifest_is_valid_for_the_pinned_kubernetes_version():
    assert MANIFESTS == [REPO / "k8s" / "manifest.yaml", REPO / "k8s" / "redis-ha.yaml"]
    bin_dir = Path(sys.executable).parent
    validate = shutil.which("kubernetes-validate", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert validate, "kubernetes-validate is missing: pip install -r requirements-dev.txt"
    version = _makefile_variable("K8S_VERSION")
    result = subprocess.run(
        [validate, "--strict", "--kubernetes-version", version, "--quiet", *map(str, MANIFESTS)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_everything_lives_in_the_sensorhub_namespace(resources):
    assert ("Namespace", NAMESPACE) in resources
    for (kind, name), document in resources.items():
        if kind != "Namespace":
            assert document["metadata"].get("namespace") == NAMESPACE, f"{kind}/{name}"


def test_service_runs_two_replicas_serving_on_8080_with_probes_on_the_health_paths(app):
    assert app["spec"]["replicas"] == 2
    container = _container(app)
    assert APP_PORT in [p["containerPort"] for p in container["ports"]]
    readiness = container["readinessProbe"]["httpGet"]
    liveness = container["livenessProbe"]["httpGet"]
    assert readiness["path"] == "/healthz"
    assert liveness["path"] == "/livez"
    assert _container_port(container, readiness["port"]) == APP_PORT
    assert _container_port(container, liveness["port"]) == APP_PORT


def test_rollout_never_drops_below_the_ready_replicas(app):
    rolling = app["spec"]["strategy"]["rollingUpdate"]
    assert app["spec"]["strategy"]["type"] == "RollingUpdate"
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1


def test_service_sensorhub_forwards_8080_to_the_api_pods_only(resources, app, worker):
    service = resources[("Service", "sensorhub")]
    (port,) = service["spec"]["ports"]
    assert port["port"] == APP_PORT
    assert _container_port(_container(app), port["targetPort"]) == APP_PORT
    selector = service["spec"]["selector"]
    assert _selects(selector, app["spec"]["template"]["metadata"]["labels"])
    assert not _selects(selector, worker["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("name", ["sensorhub", "sensorhub-worker", "sensorhub-mqtt"])
def test_sensorhub_pods_are_locked_down_and_write_only_to_empty_dirs(resources, name):
    workload = resources[("Deployment", name)]
    pod = _pod(workload)
    container = _container(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True
    image_user = parse()[-1].last("USER").arguments.split(":")[0]
    assert str(pod["securityContext"]["runAsUser"]) == image_user
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    resources_ = container["resources"]
    assert {"cpu", "memory"} <= resources_["requests"].keys() and {"cpu", "memory"} <= resources_["limits"].keys()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert all("emptyDir" in volumes[v] for v in mounts.values())
    # What the image writes must be on one of those volumes.
    image_env = parse()[-1].env()
    writable = ["/tmp"] + (["/data"] if name == "sensorhub" else [])
    for path in writable:
        assert path in mounts, f"{name}: {path} is not writable with a read-only root file system"
    for variable in ("PROMETHEUS_MULTIPROC_DIR", "DATA_DIR") if name == "sensorhub" else ():
        assert any(image_env[variable].startswith(m + "/") or image_env[variable] == m for m in mounts), variable


def test_settings_come_from_the_config_map_and_keys_from_a_secret_no_manifest_ships(resources, app, worker):
    config = resources[("ConfigMap", "sensorhub-config")]
    for workload in (app, worker):
        sources = _container(workload)["envFrom"]
        assert sources == [
            {"configMapRef": {"name": "sensorhub-config"}},
            {"secretRef": {"name": "sensorhub-secrets"}},
        ]
    # Created by the operator (a shipped key or password would be everyone's).
    assert not [name for kind, name in resources if kind == "Secret"]
    assert "API_KEYS" not in config["data"], "keys belong in the Secret"
    # Without keys in that Secret the service refuses to start rather than run open.
    assert config["data"]["REQUIRE_API_KEYS"] == "1" and "ALLOW_OPEN_API" not in config["data"]
    text = MANIFESTS[0].read_text()
    for secret in REDIS_PASSWORD_SECRET["name"], "sensorhub-secrets":
        assert f"kubectl -n {NAMESPACE} create secret generic {secret}" in text


def _env(container: dict) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


def _secret_ref(variable: dict) -> dict:
    return variable["valueFrom"]["secretKeyRef"]


@pytest.mark.parametrize("name", ["sensorhub", "sensorhub-worker", "sensorhub-mqtt"])
def test_redis_url_names_the_bundled_redis_with_the_password_from_its_secret(resources, redis, name):
    container = _container(resources[("Deployment", name)])
    env = _env(container)
    names = [e["name"] for e in container["env"]]
    # Kubernetes expands $(VAR) only from variables defined before.
    assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")
    assert _secret_ref(env["REDIS_PASSWORD"]) == REDIS_PASSWORD_SECRET
    url = urlsplit(env["REDIS_URL"]["value"])
    assert url.scheme == "redis" and url.password == "$(REDIS_PASSWORD)"
    service = resources[("Service", url.hostname)]
    assert [p["port"] for p in service["spec"]["ports"]] == [url.port]
    assert _selects(service["spec"]["selector"], redis["spec"]["template"]["metadata"]["labels"])
    assert redis["spec"]["serviceName"] == url.hostname
    assert "REDIS_URL" not in resources[("ConfigMap", "sensorhub-config")]["data"]


def test_redis_keeps_an_append_only_file_on_a_persistent_volume(redis):
    container = _container(redis, "redis")
    assert re.fullmatch(r"redis:(6\.2|7)\.\d+\.\d+(-\S+)?", container["image"]), container["image"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    data_dir = args[args.index("--dir") + 1]
    claims = {t["metadata"]["name"] for t in redis["spec"]["volumeClaimTemplates"]}
    assert any(m["mountPath"] == data_dir and m["name"] in claims for m in container["volumeMounts"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert "redis-cli ping" in " ".join(container[probe]["exec"]["command"])


def test_worker_runs_the_background_worker_without_a_service(resources, app, worker):
    container = _container(worker)
    assert container["command"] == ["python", "-m", "service.worker"]
    assert worker["spec"]["replicas"] >= 1
    assert container["image"] == _container(app)["image"]
    labels = worker["spec"]["template"]["metadata"]["labels"]
    for (kind, name), document in resources.items():
        if kind == "Service":
            assert not _selects(document["spec"]["selector"], labels), f"Service {name} selects the worker"


def test_disruption_budget_and_autoscaler_target_the_api(resources, app):
    pdb = resources[("PodDisruptionBudget", "sensorhub")]
    assert _selects(pdb["spec"]["selector"]["matchLabels"], app["spec"]["template"]["metadata"]["labels"])
    assert pdb["spec"]["minAvailable"] < app["spec"]["replicas"], "a drain could never evict a pod"
    hpa = resources[("HorizontalPodAutoscaler", "sensorhub")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sensorhub"}
    assert hpa["spec"]["minReplicas"] >= app["spec"]["replicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_gunicorn_drains_before_kubernetes_kills(app):
    match = re.search(r"^graceful_timeout\s*=\s*(\d+)", (REPO / "gunicorn.conf.py").read_text(), re.MULTILINE)
    assert match, "gunicorn.conf.py sets no graceful_timeout"
    container = _container(app)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert _pod(app)["terminationGracePeriodSeconds"] > int(pre_stop[1]) + int(match.group(1))


def test_manifest_image_is_the_one_readme_builds(resources):
    readme = (REPO / "README.md").read_text()
    built = re.findall(r"docker build -t (\S+) \.", readme)
    assert built, "README shows no `docker build -t <image> .`"
    assert len(set(built)) == 1
    images = {
        f"{kind}/{name}": c["image"]
        for (kind, name), document in resources.items()
        if kind in ("Deployment", "StatefulSet")
        for c in _pod(document)["containers"]
        if c["name"] == "sensorhub"
    }
    assert images and set(images.values()) == {built[0]}, images
    assert f"kubectl -n {NAMESPACE} set image deployment/sensorhub" in readme


def test_the_ingress_buffers_and_caps_bodies_and_the_service_trusts_it_with_uploads(resources):
    ingress = resources[("Ingress", "sensorhub")]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "4m"
    assert int(annotations["nginx.ingress.kubernetes.io/limit-connections"]) > 0
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "sensorhub", "port": {"name": "http"}}
    # Behind the proxy every request has its address: no per-address upload limit.
    assert resources[("ConfigMap", "sensorhub-config")]["data"]["MAX_BODY_READS_PER_CLIENT"] == "0"


def test_mqtt_bridge_runs_one_at_a_time_with_the_service_settings(resources, app):
    bridge = resources[("Deployment", "sensorhub-mqtt")]
    container = _container(bridge)
    assert container["command"] == ["python", "-m", "service.mqtt"]
    assert container["image"] == _container(app)["image"]
    assert container["envFrom"] == _container(app)["envFrom"]
    # One session per client id: never two bridges at once, even in a rollout.
    assert bridge["spec"]["replicas"] <= 1
    assert bridge["spec"]["strategy"]["type"] == "Recreate"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert _container_port(container, "metrics") == int(env["MQTT_METRICS_PORT"])
    labels = bridge["spec"]["template"]["metadata"]["labels"]
    for (kind, name), document in resources.items():
        if kind == "Service":
            assert not _selects(document["spec"]["selector"], labels), f"Service {name} selects the MQTT bridge"


def _memory_bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([a-zA-Z]*)", text).groups()
    units = {"": 1, "mb": 2**20, "gb": 2**30, "Mi": 2**20, "Gi": 2**30}
    return int(number) * units[unit]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.mark.parametrize("workload", REDIS_WORKLOADS, ids=lambda w: w[1])
def test_every_redis_asks_the_password_of_its_secret(resources, workload):
    container = _container(resources[workload], "redis")
    env = _env(container)
    args = container["args"]
    assert _option(args, "--requirepass") == "$(REDIS_PASSWORD)"
    assert _secret_ref(env["REDIS_PASSWORD"]) == REDIS_PASSWORD_SECRET
    # The probes' redis-cli authenticates too.
    assert _secret_ref(env["REDISCLI_AUTH"]) == REDIS_PASSWORD_SECRET
    if "--cluster-enabled" in args:
        assert _option(args, "--masterauth") == "$(REDIS_PASSWORD)", "replicas must authenticate to their master"


@pytest.mark.parametrize("workload", REDIS_WORKLOADS, ids=lambda w: w[1])
def test_every_redis_disables_dangerous_commands_but_none_sensorhub_sends(resources, workload):
    args = _container(resources[workload], "redis")["args"]
    renamed = {args[i + 1].upper(): args[i + 2] for i, arg in enumerate(args) if arg == "--rename-command"}
    assert DISABLED_COMMANDS <= {command for command, to in renamed.items() if to == ""}
    assert not SENSORHUB_COMMANDS & renamed.keys()


@pytest.mark.parametrize("workload", REDIS_WORKLOADS, ids=lambda w: w[1])
def test_every_redis_refuses_writes_before_its_container_limit_and_never_evicts(resources, workload):
    container = _container(resources[workload], "redis")
    args = container["args"]
    limit = _memory_bytes(container["resources"]["limits"]["memory"])
    assert 0 < _memory_bytes(_option(args, "--maxmemory")) <= 0.8 * limit
    assert _option(args, "--maxmemory-policy") == "noeviction"
    assert _option(args, "--appendonly") == "yes"


@pytest.mark.parametrize(("workload", "peers"), [
    (("StatefulSet", "redis"), ("sensorhub",)),
    # The nodes of a cluster talk to each other; a Job forms the cluster.
    (("StatefulSet", "redis-cluster"), ("sensorhub", "redis-cluster")),
], ids=["redis", "redis-cluster"])
def test_only_sensorhub_pods_reach_redis(resources, workload, peers):
    redis_labels = resources[workload]["spec"]["template"]["metadata"]["labels"]
    policies = [d for (kind, _), d in resources.items()
                if kind == "NetworkPolicy" and _selects(d["spec"]["podSelector"]["matchLabels"], redis_labels)]
    assert policies
    allowed = [(peer, rule.get("ports", [])) for policy in policies for rule in policy["spec"]["ingress"]
               for peer in rule["from"]]
    for peer, ports in allowed:
        assert set(peer) == {"podSelector"}, "no namespace or address range is let in"
        assert ports, "each rule names its ports"
    pods = {name: _pod(document) and document["spec"]["template"]["metadata"]["labels"]
            for (kind, name), document in resources.items() if kind in ("Deployment", "StatefulSet", "Job")}
    for name, labels in pods.items():
        let_in = any(_selects(peer["podSelector"]["matchLabels"], labels) for peer, _ in allowed)
        assert let_in == name.startswith(peers), name


def test_every_image_is_pinned_to_a_version(resources):
    images = [c["image"] for (kind, _), document in resources.items() if kind in ("Deployment", "StatefulSet", "Job")
              for c in _pod(document)["containers"]]
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{image}: not a pinned version"
    assert _makefile_variable("IMAGE") in images
def test_api_pods_run_no_worker_and_the_worker_is_probed_on_its_own_port(app, worker):
    assert {"name": "WORKER", "value": "0"} in _container(app)["env"]
    container = _container(worker)
    port = _env(container)["WORKER_PORT"]["value"]
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("metrics", int(port))]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == port
