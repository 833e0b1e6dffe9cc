"""What makes a task a job: one decorator, `@job_task`, and what its body is given.

A task started by `tasks.jobs.start_job` carries its job's id (its task id) and a header
saying it is a job. For each delivery of such a task, JobTask:

- claims the delivery in the job's row: counts it, skips a finished or cancelled job, and
  gives up on one whose message keeps killing its worker (JOB_MAX_REDELIVERIES);
- runs the body with a JobContext: the job's id, this delivery's number, the checkpoint the
  last delivery reached, its deadline, and `progress`, `commit`, `check_cancelled`;
- records how it ended: `succeeded` with the result, `queued` again when the task is retried
  (Celery's own retry options, declared at the task), `failed`, or `dead` once its retries
  ran out. A body that raises JobCancelled (the job was cancelled, or a later delivery took it
  over) stops and records nothing.

A job that ends `failed` or `dead` is reported (tasks.observability.error_reports), once: by
the delivery whose entry ended it.

The same task sent another way (`.delay()` in a shell, beat) is not a job: its body gets a
context with no job, and nothing touches the ledger.
"""

import functools
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from celery import shared_task
from celery.exceptions import Ignore, MaxRetriesExceededError, Retry
from celery.utils.time import get_exponential_backoff_interval
from sqlalchemy import func, update

from tasks.app import FlaskTask, RetryNotPublished
from tasks.errors import DEPENDENCY_ERRORS, describe
from tasks.extensions import db
from tasks.headers import JOB_HEADER
from tasks.ledger import Ledger, owned
from tasks.models import Job, JobState
from tasks.observability import error_reports
from tasks.settings import current_settings

log = logging.getLogger(__name__)

# The longest a delivery's last ledger entry is tried again while PostgreSQL is unavailable.
RECORD_PATIENCE = 20.0
# Left of the hard time limit when the last entry gives up: the pool kills a task there.
HARD_LIMIT_MARGIN = 1.0

P = ParamSpec("P")
R = TypeVar("R")
KEEP: Any = object()


class JobCancelled(Exception):
    """This delivery no longer owns its job (cancelled, or taken over by a later delivery):
    it stops, and records nothing."""


@dataclass
class JobContext:
    """What a job's body is given. Outside a job (job_id None) every call is harmless:
    `progress` and `check_cancelled` do nothing, `commit` only commits."""

    job_id: uuid.UUID | None
    delivery: int
    # When this delivery must have ended (time.monotonic()): its soft time limit.
    deadline: float
    # Where the last delivery got to, as the body said it (any JSON); None on a first start.
    checkpoint: Any = None
    ledger: Ledger | None = field(default=None, repr=False)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def progress(self, done: int, total: int | None = None) -> None:
        """Record `done` of `total` (kept from before when None), for /jobs/<id> to show."""
        if self.ledger is None or self.job_id is None:
            return
        self.ledger.progress(self.job_id, self.delivery, done, total)

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled or taken over: a long body calls this
        between steps that do not `commit`."""
        if self.ledger is None or self.job_id is None:
            return
        if not self.ledger.owns(self.job_id, self.delivery):
            raise JobCancelled(f"job {self.job_id} is no longer this delivery's")

    def commit(
        self, checkpoint: Any = KEEP, done: int | None = None, total: int | None = None
    ) -> None:
        """Commit the work done in `db.session` together with the job's new checkpoint and
        progress, if the job is still this delivery's; else roll the work back and raise
        JobCancelled. So a redelivered job resumes after the last commit, and no step is
        committed twice."""
        if self.job_id is not None:
            values: dict[str, Any] = {"updated_at": func.now()}
            if checkpoint is not KEEP:
                values["checkpoint"] = checkpoint
            if done is not None:
                values["progress_done"] = done
            if total is not None:
                values["progress_total"] = total
            moved = db.session.execute(
                update(Job).where(owned(self.job_id, self.delivery)).values(**values),
                execution_options={"synchronize_session": False},
            ).rowcount
            if not moved:
                db.session.rollback()
                raise JobCancelled(f"job {self.job_id} is no longer this delivery's")
        db.session.commit()
        if checkpoint is not KEEP:
            self.checkpoint = checkpoint


class JobTask(FlaskTask):
    """The class of every @job_task: the job's lifecycle around each delivery."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        hard, soft = self._time_limits()
        if not self.request.get(JOB_HEADER):
            self.request.job = JobContext(None, 0, started + soft)
            return super().__call__(*args, **kwargs)

        ledger: Ledger = self.app.flask_app.extensions["ledger"]
        job_id = uuid.UUID(self.request.id)
        try:
            claim = ledger.claim(
                job_id,
                self.request.retries,
                current_settings(self.app.flask_app).job_max_redeliveries,
            )
        except DEPENDENCY_ERRORS as error:
            # Nothing was counted: this delivery comes again later, as a retry.
            countdown = self.backoff()
            log.warning(
                "task %s[%s] not claimed (%s); retrying in %ss",
                self.name,
                job_id,
                describe(error),
                countdown,
            )
            raise self.retry(exc=error, countdown=countdown) from None
        if claim is None:
            log.warning("task %s[%s] skipped: its job is over", self.name, job_id)
            raise Ignore()
        if not claim.runnable:
            log.error("task %s[%s] given up: delivered too many times", self.name, job_id)
            error_reports.report(
                f"job {job_id} ({self.name}) given up: delivered {claim.delivery} times, "
                "its worker died or was killed each time",
                job_id=str(job_id),
                job_state=claim.state,
            )
            raise Ignore()

        job = JobContext(job_id, claim.delivery, started + soft, claim.checkpoint, ledger)
        self.request.job = job

        def patience() -> float:
            return min(RECORD_PATIENCE, started + hard - HARD_LIMIT_MARGIN - time.monotonic())

        try:
            result = super().__call__(*args, **kwargs)
        except JobCancelled as stopped:
            log.info("task %s[%s] stopped: %s", self.name, job_id, stopped)
            raise Ignore() from None
        except (Retry, RetryNotPublished) as retry:
            cause = retry.exc if retry.exc is not None else retry
            self._record(ledger.retrying, job_id, job.delivery, cause, patience=patience())
            raise
        except Ignore:
            raise
        except Exception as error:
            dead = self._retries_ran_out(error)
            if self._record(ledger.failed, job_id, job.delivery, error, dead, patience=patience()):
                state = JobState.DEAD if dead else JobState.FAILED
                error_reports.report(error, job_id=str(job_id), job_state=str(state))
            raise
        self._record(ledger.succeeded, job_id, result, patience=patience())
        return result

    def backoff(self) -> int:
        """The delay before the next retry, as the task's retry options say."""
        return get_exponential_backoff_interval(
            factor=int(max(1.0, float(self.retry_backoff or 1))),
            retries=self.request.retries,
            maximum=int(self.retry_backoff_max or 600),
            full_jitter=self.retry_jitter,
        )

    def _time_limits(self) -> tuple[float, float]:
        """(hard, soft) time limits of this delivery, in seconds. A prefork pool enforces
        them; a thread pool does not, so long bodies watch `JobContext.deadline`."""
        hard, soft = self.request.timelimit or (None, None)
        hard = hard or self.time_limit or self.app.conf.task_time_limit
        soft = soft or self.soft_time_limit or self.app.conf.task_soft_time_limit
        return float(hard), float(soft)

    def _retries_ran_out(self, error: Exception) -> bool:
        if isinstance(error, MaxRetriesExceededError):
            return True
        return isinstance(error, tuple(self.autoretry_for))

    def _record(
        self, entry: Callable[..., R], job_id: uuid.UUID, *args: Any, **kwargs: Any
    ) -> R | None:
        # Losing the entry must not turn the delivery's outcome into another; a job left
        # running is published again by beat (work.maintenance.requeue_stuck_jobs).
        try:
            return entry(job_id, *args, **kwargs)
        except DEPENDENCY_ERRORS:
            log.exception("could not record %s for job %s", entry.__name__, job_id)
            return None


def job_task(
    *, name: str, **options: Any
) -> Callable[[Callable[Concatenate[JobContext, P], R]], JobTask]:
    """Make `body(job, *args, **kwargs)` a Celery task (shared_task with `options`) that is a
    job when started by `tasks.jobs.start_job`: see this module's docstring. Declare its
    retries with Celery's options (`autoretry_for=...`; backoff and counts from the RETRY_*
    settings unless given); its callers pass only the body's own arguments."""

    def decorator(body: Callable[Concatenate[JobContext, P], R]) -> JobTask:
        @functools.wraps(body)
        def run(task: JobTask, *args: P.args, **kwargs: P.kwargs) -> R:
            return body(task.request.job, *args, **kwargs)

        # Celery checks a call's arguments against this: the body's, its first (`job`) dropped.
        run.__signature__ = inspect.signature(body)  # type: ignore[attr-defined]
        return shared_task(name=name, base=JobTask, bind=True, **options)(run)

    return decorator
