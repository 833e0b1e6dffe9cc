"""What `celery -A tasks.celery worker|beat|flower` loads."""

from typing import Any

from celery.signals import setup_logging, worker_process_init

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
