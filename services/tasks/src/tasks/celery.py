"""What `celery -A tasks.celery worker|beat|flower` loads."""

import logging
from typing import Any

import celery.apps.worker as celery_worker_app
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import (
    beat_init,
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)
from celery.worker import WorkController

from tasks.app import create_app
from tasks.extensions import db
from tasks.observability.logs import configure_logging
from tasks.observability.process_start import start_reporting, stop_reporting
from tasks.settings import current_settings

flask_app = create_app()
app = flask_app.extensions["celery"]


def process_type(nodename: str) -> str:
    """The process type a worker serves as: PROCESS_TYPE, else its node's name before the @
    (CELERY_WORKER_NAME in services/worker/start: worker, io)."""
    return current_settings(flask_app).process_type or nodename.partition("@")[0]


@setup_logging.connect
def _stack_logging(loglevel: int, **_: Any) -> None:
    # Connected, this stops Celery from setting up logging itself (its root-logger hijack).
    settings = current_settings(flask_app)
    configure_logging(settings.process_type or "worker", settings.log_format, loglevel)
    # The worker's notices from its signal handlers ("worker: Warm shutdown") are written
    # straight to stdout: as records, they are lines of the log's own format like the rest.
    celery_worker_app.safe_say = _say_as_a_record


def _say_as_a_record(message: str, *_: Any) -> None:
    logging.getLogger("celery.apps.worker").info(message.strip())


@worker_process_init.connect
def _forget_inherited_connections(**_: Any) -> None:
    # A forked child must never reuse the parent's sockets to PostgreSQL.
    with flask_app.app_context():
        db.engine.dispose(close=False)
    flask_app.extensions["ledger"].engine.dispose(close=False)


@worker_init.connect
def _report_from_a_worker_without_forks(sender: WorkController, **_: Any) -> None:
    # A prefork worker runs its tasks in pool processes forked later: they start reporting
    # themselves (below). A thread pool (the io worker) runs them here, in this process.
    if not issubclass(get_implementation(sender.pool_cls), PreforkPool):
        start_reporting(current_settings(flask_app), process_type(sender.hostname))


@worker_process_init.connect
def _report_from_a_pool_process(sender: str, **_: Any) -> None:
    start_reporting(current_settings(flask_app), process_type(sender))


@worker_process_shutdown.connect
def _send_the_last_reports(**_: Any) -> None:
    # A pool process ends with os._exit: the SDKs' atexit flushes never run there.
    stop_reporting()


@beat_init.connect
def _report_from_beat(**_: Any) -> None:
    start_reporting(current_settings(flask_app), "beat")
