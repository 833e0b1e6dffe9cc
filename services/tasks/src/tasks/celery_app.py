"""The Celery app of a Flask app, and the class of every task of the stack."""

import logging
import time
import uuid
from typing import Any

from celery import Celery, Task
from celery.exceptions import Ignore, MaxRetriesExceededError, Reject
from celery.signals import task_postrun, task_prerun
from flask import Flask, has_app_context
from sqlalchemy.exc import SQLAlchemyError

from tasks import ledger
from tasks.celery_config import celery_config
from tasks.errors import TransientError, as_transient
from tasks.retrying import retry_later

log = logging.getLogger(__name__)

# Set on the messages of tasks started as jobs (tasks.jobs): only those keep a ledger, so a
# task published otherwise (beat's, or `.delay()` in a shell) never touches the database.
JOB_HEADER = "products_job"


class FlaskTask(Task):
    """Runs inside its Flask app's context (one per delivery); retries transient failures;
    a job's task records its deliveries, progress and end in the job ledger."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            return self._run(*args, **kwargs)
        with self.app.flask_app.app_context():
            return self._run(*args, **kwargs)

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.run(*args, **kwargs)
        except Exception as error:
            transient = as_transient(error)
            if transient is None:
                raise
            try:
                retry_later(self, transient)
            except Reject:
                # No retry was published, so on_retry does not run: the job waits for its
                # message to come back, queued.
                self._record(ledger.retrying, transient)
                raise

    @property
    def delivery(self) -> ledger.Delivery | None:
        """This delivery of a job's task, once claimed; None for other tasks."""
        return self.request.get("job_delivery")

    @property
    def soft_deadline(self) -> float:
        """When this delivery must have ended (monotonic clock): its soft time limit. A prefork
        pool enforces it; a thread pool does not, so long tasks check it themselves."""
        _, soft = self.request.timelimit or (None, None)
        soft = soft or self.soft_time_limit or self.app.conf.task_soft_time_limit
        started = self.request.get("started_monotonic") or time.monotonic()
        return started + soft

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        self.request.started_monotonic = time.monotonic()
        if not self.request.get(JOB_HEADER):
            return
        try:
            delivery = ledger.claim(
                uuid.UUID(task_id),
                self.request.retries,
                self.app.flask_app.extensions["settings"].job_max_redeliveries,
            )
        except SQLAlchemyError as error:
            transient = as_transient(error)
            if transient is None:
                raise
            retry_later(self, transient)
        if delivery is None:
            log.warning("task %s[%s] skipped: its job is over", self.name, task_id)
            raise Ignore()
        if not delivery.runnable:
            log.error("task %s[%s] given up: delivered too many times", self.name, task_id)
            raise Ignore()
        self.request.job_delivery = delivery

    def _record(self, entry: Any, *args: Any) -> None:
        # Losing a ledger entry must not turn a finished task into a failed one; a job left
        # running is republished by beat (maintenance.requeue_stuck_jobs).
        if (delivery := self.delivery) is None:
            return
        try:
            entry(delivery, *args)
        except SQLAlchemyError:
            log.exception("could not record %s for job %s", entry.__name__, delivery.job_id)

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        self._record(ledger.succeeded, retval)

    def on_retry(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        self._record(ledger.retrying, exc)

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # An error the task retries on, reaching here, means its retries ran out.
        retries_ran_out = isinstance(exc, TransientError | MaxRetriesExceededError)
        self._record(ledger.failed, exc, retries_ran_out)


@task_prerun.connect
def _enter_app_context(task: Task, **_: Any) -> None:
    """One app context for a whole delivery: its ledger entries and the task itself."""
    flask_app = getattr(task.app, "flask_app", None)
    if flask_app is not None:
        context = flask_app.app_context()
        context.push()
        task.request.flask_context = context


@task_postrun.connect
def _leave_app_context(task: Task, **_: Any) -> None:
    context = task.request.get("flask_context")
    if context is not None:
        context.pop()


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for a Flask app, with FlaskTask as the class of every task."""
    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app.extensions["settings"]))
    celery_app.flask_app = app
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
