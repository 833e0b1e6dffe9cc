"""What `celery -A tasks.celery worker|beat|flower` loads."""

from typing import Any

from celery.signals import worker_process_init

from tasks.app import create_app
from tasks.extensions import db

flask_app = create_app()
app = flask_app.extensions["celery"]


@worker_process_init.connect
def _forget_inherited_connections(**_: Any) -> None:
    # A forked child must never reuse the parent's sockets to PostgreSQL.
    with flask_app.app_context():
        db.engine.dispose(close=False)
    flask_app.extensions["ledger"].engine.dispose(close=False)
