"""What `celery -A tasks.celery worker|beat|flower` loads."""

from typing import Any

from celery.concurrency import get_implementation
from celery.signals import beat_init, setup_logging, worker_init, worker_process_init

from tasks import error_reports
from tasks.app import create_app
from tasks.extensions import db
from tasks.logs import configure_logging
from tasks.settings import current_settings

flask_app = create_app()
app = flask_app.extensions["celery"]


@worker_process_init.connect
def _forget_inherited_connections(**_: Any) -> None:
    # A forked child must never reuse the parent's sockets to PostgreSQL.
    with flask_app.app_context():
        db.engine.dispose(close=False)
    flask_app.extensions["ledger"].engine.dispose(close=False)


@setup_logging.connect
def _stack_logging(loglevel: int, **_: Any) -> None:
    # Connected, this stops Celery from setting up logging itself (its root-logger hijack).
    settings = current_settings(flask_app)
    configure_logging(settings.process_type or "worker", settings.log_format, loglevel)


@worker_process_init.connect
def _report_from_each_pool_process(**_: Any) -> None:
    error_reports.start(current_settings(flask_app), "worker")


@worker_init.connect
def _report_from_a_worker_without_pool_processes(sender: Any, **_: Any) -> None:
    # The threads (and gevent, eventlet) pools run tasks in the worker's own process, which
    # no worker_process_init reaches; prefork's own process runs none.
    from celery.concurrency.prefork import TaskPool as Prefork

    if not issubclass(get_implementation(sender.pool_cls), Prefork):
        error_reports.start(current_settings(flask_app), "worker")


@beat_init.connect
def _report_from_beat(**_: Any) -> None:
    error_reports.start(current_settings(flask_app), "beat")
