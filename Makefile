# sensorhub: `make run` serves on :8080, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Kubernetes version the manifests are validated against (tests/deploy reads it here).
K8S_VERSION ?= 1.33.0
# Image tag of `make image` (docs/operations.md "Container"; k8s/manifest.yaml uses the same).
IMAGE ?= sensorhub:1.0.0

.PHONY: run worker mqtt test test-fast test-cluster lint venv venv-run clean lint-docker validate-k8s image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Two stamps: running needs only requirements.txt; the test and lint tooling
# (requirements-dev.txt) installs on the first `make test`, not on `make run`.
$(VENV)/.installed-run: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv-run: $(VENV)/.installed-run

venv: $(VENV)/.installed

run: venv-run
	$(BIN)/gunicorn -c gunicorn.conf.py service.wsgi:app

# One background worker alone (offline detection, webhook delivery); needs REDIS_URL.
worker: venv-run
	$(BIN)/python -m service.worker

# The MQTT bridge alone (docs/protocols.md "MQTT"); needs REDIS_URL and MQTT_URL.
mqtt: venv-run
	$(BIN)/python -m service.mqtt

# Two passes: the tests not marked slow in one process per core (each with
# its own redis-server), then the slow ones (real servers, timing-sensitive
# fault and fairness tests, fuzzing) one at a time. Both always run; a pass
# that selects no test (exit 5) is not a failure.
test: venv
	@status=0; \
	$(BIN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] || status=$$rc; }; \
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] || status=$$rc; }; \
	exit $$status

# The inner loop: the suite without the tests marked slow (fuzzing, real
# gunicorn and browser tests, container, fault and failover tests), one
# process per core, each with its own redis-server.
test-fast: venv
	$(BIN)/python -m pytest -m "not slow" -n auto $(PYTEST_ARGS)

# The whole suite against a local Redis Cluster (3 masters, 3 replicas on
# loopback), torn down whatever the outcome.
test-cluster: venv
	$(BIN)/python -m service.embedded_cluster -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check service tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The Dockerfile against hadolint's rules (also part of `make test`).
lint-docker: venv
	$(BIN)/hadolint Dockerfile

# k8s/ against the Kubernetes $(K8S_VERSION) schemas, offline, unknown fields refused (also part of `make test`).
validate-k8s: venv
	$(BIN)/kubernetes-validate --strict --kubernetes-version $(K8S_VERSION) k8s/*.yaml

# Needs a Docker engine (CI's image job; not part of `make test`).
image:
	docker build -t $(IMAGE) .
