# syntax=docker/dockerfile:1
# One Dockerfile, a final stage per service (web, worker, flower, test). It sits at the
# repository root because every image installs the shared library in services/tasks, and
# Heroku builds with the Dockerfile's folder as the context.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: a virtualenv per service, from uv.lock ------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock or a pyproject changes.
COPY uv.lock pyproject.toml ./
COPY services/tasks/pyproject.toml services/tasks/pyproject.toml
COPY services/web/pyproject.toml services/web/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-install-workspace
COPY services/tasks services/tasks
COPY services/web services/web
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-editable

FROM build AS build-web
RUN uv sync --frozen --no-editable --no-dev --package web

FROM build AS build-worker
RUN uv sync --frozen --no-editable --no-dev --package tasks

FROM build AS build-flower
RUN uv sync --frozen --no-editable --no-dev --package tasks --extra flower

# ---- runtime: what every service image shares -----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/app/.venv/bin:$PATH \
    APP_ENV=production
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app

# ---- worker: Celery worker and beat ---------------------------------------------------
FROM runtime AS worker
COPY --from=build-worker --chown=app:app /app/.venv /app/.venv
COPY --chown=app:app services/worker/start services/worker/beat services/worker/healthcheck \
    services/worker/beat-healthcheck services/worker/
USER 10001:10001
# SIGTERM (docker stop, Heroku) becomes a soft shutdown: running tasks get
# CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT seconds, then go back to the queue.
ENV REMAP_SIGTERM=SIGQUIT
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["services/worker/healthcheck"]
CMD ["services/worker/start"]

# ---- flower: the dashboard ------------------------------------------------------------
FROM runtime AS flower
COPY --from=build-flower --chown=app:app /app/.venv /app/.venv
COPY --chown=app:app services/flower/start services/flower/flowerconfig.py services/flower/
USER 10001:10001
EXPOSE 5555
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('FLOWER_PORT', '5555')}/healthcheck\", timeout=2)"]
CMD ["services/flower/start"]

# ---- test: the suite, for compose.test.yaml -------------------------------------------
FROM build AS test
RUN uv sync --frozen --no-editable --all-packages
COPY devstack devstack
COPY local_servers local_servers
COPY tests tests
COPY services services
# What the static tests of the deployment read (tests/deploy).
COPY .flaskenv .env.example Makefile Dockerfile compose.yaml compose.test.yaml heroku.yml \
    .hadolint.yaml README.md ./
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app \
    && chown -R app:app /app
USER 10001:10001
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
CMD ["pytest"]

# ---- web-base: the web service's files, for the release step and gunicorn ------------
FROM runtime AS web-base
COPY --from=build-web --chown=app:app /app/.venv /app/.venv
COPY --chown=app:app services/web/start services/web/release services/web/
USER 10001:10001

# ---- release: the migrations, once per deploy (Heroku's release phase runs this CMD) ---
FROM web-base AS release
CMD ["services/web/release"]

# ---- web: gunicorn -------------------------------------------------------------------
# The last stage, so a plain `docker build .` gives the web image.
FROM web-base AS web
ENV PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=2)"]
CMD ["services/web/start"]
