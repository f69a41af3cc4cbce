# sensorhub: `make run` serves on :8080, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-cluster lint venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/gunicorn -c gunicorn.conf.py service.wsgi:app

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole suite against a local Redis Cluster (3 masters, 3 replicas on
# loopback), torn down whatever the outcome.
test-cluster: venv
	$(BIN)/python -m service.embedded_cluster -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check service tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
