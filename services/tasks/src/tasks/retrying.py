from typing import Any, NoReturn

from celery.exceptions import Reject
from celery.utils.time import get_exponential_backoff_interval

from tasks.errors import TransientError
from tasks.settings import current_settings


def retry_later(task: Any, error: TransientError) -> NoReturn:
    """Retry with exponential backoff and full jitter, up to RETRY_MAX_ATTEMPTS retries.

    When none are left, Celery raises `error` itself and the job ends dead. When the retry
    cannot be published (Redis is unavailable), the delivery's message is handed back
    (Reject, requeued) rather than dropped, as Celery would: back to its queue if Redis
    takes it by then, else Redis redelivers it after the visibility timeout.
    """
    settings = current_settings()
    countdown = get_exponential_backoff_interval(
        factor=settings.retry_backoff,
        retries=task.request.retries,
        maximum=settings.retry_backoff_max,
        full_jitter=True,
    )
    try:
        raise task.retry(exc=error, countdown=countdown, max_retries=settings.retry_max_attempts)
    except Reject as unpublished:
        raise Reject(unpublished.reason, requeue=True) from error
