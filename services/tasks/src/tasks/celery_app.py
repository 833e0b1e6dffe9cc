import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from tasks import tracking
from tasks.extensions import db

log = logging.getLogger(__name__)


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for a Flask app: every task runs inside its app context."""

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
            self._track(tracking.job_started, task_id)

        def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
            self._track(tracking.job_succeeded, task_id, retval)

        def on_failure(
            self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
        ) -> None:
            self._track(tracking.job_failed, task_id, exc)

    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
