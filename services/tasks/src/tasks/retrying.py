from typing import Any, NoReturn

from celery.utils.time import get_exponential_backoff_interval
from flask import current_app

from tasks.errors import TransientError


def retry_later(task: Any, error: TransientError) -> NoReturn:
    """Retry with exponential backoff and full jitter, up to RETRY_MAX_ATTEMPTS retries.

    When none are left, Celery raises `error` itself and the job ends dead.
    """
    config = current_app.config
    countdown = get_exponential_backoff_interval(
        factor=config["RETRY_BACKOFF"],
        retries=task.request.retries,
        maximum=config["RETRY_BACKOFF_MAX"],
        full_jitter=True,
    )
    raise task.retry(exc=error, countdown=countdown, max_retries=config["RETRY_MAX_ATTEMPTS"])
