"""What `celery -A tasks.celery worker|beat|flower` loads."""

from typing import Any

from celery.signals import worker_process_init

from tasks.extensions import db
from tasks.factory import create_app

flask_app = create_app()
app = flask_app.extensions["celery"]


@worker_process_init.connect
def _forget_inherited_connections(**_: Any) -> None:
    # A forked child must never reuse the parent's sockets to Postgres.
    with flask_app.app_context():
        db.engine.dispose(close=False)
        if (ledger_engine := flask_app.extensions.get("ledger_engine")) is not None:
            ledger_engine.dispose(close=False)
