# sensorhub: `make run` serves on :8080, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Kubernetes version the manifests are validated against (tests/deploy reads it here).
K8S_VERSION ?= 1.33.0
# Image tag of `make image` (README "Container"; k8s/manifest.yaml uses the same).
IMAGE ?= sensorhub:latest

.PHONY: run worker test lint venv clean lint-docker validate-k8s image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/gunicorn -c gunicorn.conf.py service.wsgi:app

# One background worker alone (offline detection, webhook delivery); needs REDIS_URL.
worker: venv
	$(BIN)/python -m service.worker

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
