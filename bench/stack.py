"""The stack's own Celery app (tasks.celery: the same configuration and task class as
every worker), with a task that does nothing, to measure what the stack adds to a task.

    celery -A bench.stack worker --concurrency 2 --pool prefork
"""

from typing import Any

from celery import shared_task

from tasks.celery import app, flask_app

__all__ = ["app", "flask_app", "noop"]


@shared_task(name="bench.noop")
def noop(**_: Any) -> None:
    return None
