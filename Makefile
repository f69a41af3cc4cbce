# sensorhub: `make run` serves on :8080, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run worker test lint venv clean

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
