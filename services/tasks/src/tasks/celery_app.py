import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from celery.exceptions import Ignore, MaxRetriesExceededError
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from tasks import tracking
from tasks.errors import TransientError
from tasks.extensions import db

log = logging.getLogger(__name__)


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for a Flask app: every task runs inside its app context,
    and a task whose id is a job's keeps that job's state in Postgres."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

        def _track(self, record: Callable[..., None], *args: Any) -> None:
            # Losing a state update must not turn a finished task into a failed one.
            with app.app_context():
                try:
                    record(*args)
                except SQLAlchemyError:
                    db.session.rollback()
                    log.exception("could not record job state for task %s", self.request.id)

        def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
            with app.app_context():
                runnable = tracking.claim(
                    task_id, self.request.retries, app.config["JOB_MAX_REDELIVERIES"]
                )
            if not runnable:
                log.warning("task %s[%s] skipped: its job is over", self.name, task_id)
                raise Ignore()

        def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
            self._track(tracking.job_succeeded, task_id, retval)

        def on_retry(
            self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
        ) -> None:
            self._track(tracking.job_retrying, task_id, exc)

        def on_failure(
            self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
        ) -> None:
            # An error the task retries on, reaching here, means its retries ran out.
            retries_ran_out = isinstance(exc, (TransientError, MaxRetriesExceededError))
            self._track(tracking.job_failed, task_id, exc, retries_ran_out)

    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
