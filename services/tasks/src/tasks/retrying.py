from typing import Any, NoReturn

from celery.exceptions import Reject
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app

from tasks.errors import TransientError


def retry_later(task: Any, error: TransientError) -> NoReturn:
    """Retry with exponential backoff and full jitter, up to RETRY_MAX_ATTEMPTS retries.

    When none are left, Celery raises `error` itself and the job ends dead. When the retry
    cannot be published (Redis is unavailable), the delivery's message is handed back
    (Reject, requeued) rather than dropped, as Celery would: back to its queue if Redis
    takes it by then, else Redis redelivers it after the visibility timeout.
    """
    config = current_app.config
    countdown = get_exponential_backoff_interval(
        factor=config["RETRY_BACKOFF"],
        retries=task.request.retries,
        maximum=config["RETRY_BACKOFF_MAX"],
        full_jitter=True,
    )
    try:
        raise task.retry(exc=error, countdown=countdown, max_retries=config["RETRY_MAX_ATTEMPTS"])
    except Reject as unpublished:
        raise Reject(unpublished.reason, requeue=True) from error
