"""gunicorn settings: `gunicorn --config python:web.gunicorn_conf "web:create_app()"`
(services/web/start). https://gunicorn.org/reference/settings/

gunicorn itself also reads GUNICORN_CMD_ARGS, whose options win over these.

The worker is gevent's: one greenlet per connection, so clients that send their request
slowly, or connect and send nothing, each hold a greenlet, not one of a few threads. With
gthread (2 workers x 4 threads) 5 to 8 such clients stopped /healthz answering; with gevent
it takes worker_connections of them per worker (tests/system/test_web_server.py holds
150 slow and 150 idle ones and asks for /healthz).
gevent monkey-patches the standard library in each worker before the app is imported, so
waits on PostgreSQL (psycopg2's wait callback, tasks/database.py), on Redis (redis-py,
kombu) and the readiness checks' thread pool yield to other requests instead of blocking
the process. Work that holds the CPU still blocks its worker: there is none in the API
(slow work goes to Celery), and `timeout` below restarts a worker stuck for 30 s.

Metrics (web/metrics.py): prometheus-client's multiprocess mode, in which each worker keeps
its values in files of PROMETHEUS_MULTIPROC_DIR and /metrics adds up every worker's. The
master sets that folder up before it forks the first worker (on_starting: given, or a new
temporary one), empties it of an earlier run's files, and, when a worker exits, removes the
files of its values that only count while it lives (child_exit). A dead worker's counters
stay: the totals must not go back.

This module is imported by gunicorn's master process: it must not import the app.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tasks.observability.logs import LogSettings, logging_config


class ServerSettings(LogSettings):
    """The web server's own settings (the app's are tasks.settings): read here, in gunicorn's
    master, which must not import the app."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    web_host: str = Field("0.0.0.0", description="Address gunicorn listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port gunicorn listens on")
    web_concurrency: int = Field(2, ge=1, description="Worker processes (one per core suffices)")
    web_connections: int = Field(1000, ge=1, description="Connections each worker serves at once")
    prometheus_multiproc_dir: str | None = Field(
        None,
        description="Folder of the workers' metrics files, emptied at start (default: a new one)",
    )


server = ServerSettings()
bind = f"{server.web_host}:{server.port}"
workers = server.web_concurrency
# gevent's worker (-k gevent), answering gunicorn's own refusals (414, 431, 400) as JSON.
worker_class = "web.gunicorn_worker.JsonErrorsGeventWorker"
# Connections each worker serves at once (slow, idle and kept-alive ones included); more
# wait in the listen backlog. Requests that need PostgreSQL share the SQLAlchemy pool
# (5 + 10 overflow connections per worker) and get a 503 when none frees up within
# API_DEPENDENCY_TIMEOUT.
worker_connections = server.web_connections
accesslog = "-"
# The default line, plus how long the request took (seconds) and its X-Request-ID.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)ss %({x-request-id}o)s'
)
errorlog = "-"
# gunicorn's own lines (the master's, and each worker's until the app configures logging
# again with the ids of requests: tasks/app.py) in the stack's format.
logconfig_dict = logging_config(server.process_type or "web", server.log_format, server.log_level)
# Heroku's router gives up on a request after 30 s; finish or fail before that. A gevent
# worker whose hub is blocked this long (a non-cooperative call) is killed and replaced.
timeout = 30
graceful_timeout = 25
# Seconds a connection may stay open between requests, and, in the gevent worker, may take
# to send a request's line and headers: a client that connects and sends nothing, or sends
# its headers a byte at a time, is closed after this.
keepalive = 5
# gunicorn's defaults, written out: the limits behind its 414 and 431 answers.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# Heartbeat files in memory: in a container /tmp may be on a slow overlay disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn 25.1+ opens a control socket at $XDG_RUNTIME_DIR or $HOME/.gunicorn/gunicorn.ctl
# for `gunicornc`: unused here, one path shared by every gunicorn of a user (tests run
# several), and a write into a home directory the container user may not have.
control_socket_disable = True

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Memory, not disk, where there is /dev/shm: every worker writes to these files per request.
METRICS_PARENT = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The folder on_starting made, if it made one, for on_exit to remove.
_made_metrics_dir: list[str] = []


def on_starting(_: Any) -> None:
    """The workers' metrics folder, set in the environment they inherit: the one given,
    emptied of an earlier run's files, or a new one, removed again at exit."""
    given = server.prometheus_multiproc_dir
    if given is None:
        made = tempfile.mkdtemp(prefix="products-metrics-", dir=METRICS_PARENT)
        _made_metrics_dir.append(made)
        os.environ[METRICS_DIR] = made
        return
    folder = Path(given)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):  # prometheus-client's files, nothing else of the folder
        old.unlink()
    os.environ[METRICS_DIR] = str(folder)


def child_exit(_: Any, worker: Any) -> None:
    # Imported when first needed: before it forks, the master imports nothing of the app's.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(_: Any) -> None:
    for made in _made_metrics_dir:
        shutil.rmtree(made, ignore_errors=True)


def post_worker_init(worker: Any) -> None:
    """Error reports (SENTRY_DSN) and traces (OTEL_EXPORTER_OTLP_ENDPOINT) from each worker
    (tasks/observability/process_start.py): after the fork and the app's loading. Not in
    post_fork, which gunicorn calls before the gevent worker patches the standard library:
    the SDKs' sending threads and the instrumented libraries would be imported unpatched,
    and would block it."""
    from tasks.observability.process_start import start_reporting
    from tasks.settings import current_settings

    start_reporting(current_settings(worker.wsgi), "web", flask_app=worker.wsgi)
