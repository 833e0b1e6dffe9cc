"""What `celery -A tasks.celery worker|beat|flower` loads."""

from typing import Any

from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import beat_init, worker_init, worker_process_init, worker_process_shutdown
from celery.worker import WorkController

from tasks import tracing
from tasks.app import create_app
from tasks.extensions import db

flask_app = create_app()
app = flask_app.extensions["celery"]


def process_type(nodename: str) -> str:
    """The process type a worker node serves as: its name before the @ (CELERY_WORKER_NAME in
    services/worker/start: worker, io)."""
    return nodename.partition("@")[0]


@worker_process_init.connect
def _forget_inherited_connections(**_: Any) -> None:
    # A forked child must never reuse the parent's sockets to PostgreSQL.
    with flask_app.app_context():
        db.engine.dispose(close=False)
    flask_app.extensions["ledger"].engine.dispose(close=False)


@worker_init.connect
def _trace_a_worker_without_forks(sender: WorkController, **_: Any) -> None:
    # A prefork worker runs its tasks in pool processes forked later: they start tracing
    # themselves (below). A thread pool (the io worker) runs them here, in this process.
    if not issubclass(get_implementation(sender.pool_cls), PreforkPool):
        tracing.init_tracing(process_type(sender.hostname))


@worker_process_init.connect
def _trace_a_pool_process(sender: str, **_: Any) -> None:
    tracing.init_tracing(process_type(sender))


@worker_process_shutdown.connect
def _export_the_last_spans(**_: Any) -> None:
    # A pool process ends with os._exit: the SDK's atexit flush never runs there.
    tracing.shutdown_tracing()


@beat_init.connect
def _trace_beat(**_: Any) -> None:
    tracing.init_tracing("beat")
