# syntax=docker/dockerfile:1
# sensorhub image: `docker build -t sensorhub:1.0.0 .` then
# `docker run --rm -it -p 8080:8080 sensorhub:1.0.0` (embedded Redis when
# REDIS_URL is unset, data in the /data volume).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1: wheels for every dependency. Compilers live only here, for any
# dependency without a prebuilt wheel on the target platform.
FROM ${PYTHON_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt \
    && cp requirements.txt /wheels/

# Stage 2: the runtime, no build tools, no pip cache, no wheels left behind.
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080 \
    DATA_DIR=/data \
    PROMETHEUS_MULTIPROC_DIR=/tmp/sensorhub-metrics \
    GUNICORN_WORKER_TMP_DIR=/dev/shm

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels -r /wheels/requirements.txt

RUN groupadd --system --gid 10001 sensorhub \
    && useradd --system --no-log-init --uid 10001 --gid sensorhub --home-dir /app --shell /usr/sbin/nologin sensorhub \
    && mkdir -p /data \
    && chown sensorhub:sensorhub /data

WORKDIR /app
# Code stays owned by root: the service cannot rewrite itself.
COPY gunicorn.conf.py ./
COPY service/ ./service/
RUN python -m compileall -q service gunicorn.conf.py

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080

# No curl in a slim image: the probe is the Python already there.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import http.client, os, sys; c = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('PORT', '8080')), timeout=4); c.request('GET', '/healthz'); sys.exit(c.getresponse().status != 204)"]

# gunicorn drains in-flight requests on SIGTERM (graceful_timeout in
# gunicorn.conf.py), then stops the embedded Redis with its AOF flushed.
# Give `docker stop` the time for it: docker stop -t 40.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"]
