"""What a process of the stack starts once it is the process that does the work, after any
fork (a sending thread does not survive one): error reports (error_reports.py) and traces
(tracing.py). Each is free when its variable is unset.

Called from gunicorn's post_worker_init (web/gunicorn_conf.py) and Celery's signals
(tasks/celery.py): a prefork pool process, a worker that runs its tasks itself (the io
worker's threads), beat.
"""

from typing import TYPE_CHECKING

from tasks.observability import error_reports, tracing

if TYPE_CHECKING:
    from flask import Flask

    from tasks.settings import Settings


def start_reporting(
    settings: "Settings", process_type: str, flask_app: "Flask | None" = None
) -> None:
    error_reports.start(settings, process_type)
    tracing.init_tracing(process_type, flask_app=flask_app)


def stop_reporting() -> None:
    """Send what is still held; for processes that end without atexit hooks (pool processes)."""
    tracing.shutdown_tracing()
