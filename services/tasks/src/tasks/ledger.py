"""The job ledger: what workers record of a job's deliveries, progress and end.

Each entry is one conditional UPDATE, committed on its own. Its WHERE names the states the
job may leave and, for what only the current delivery may record, the delivery's number:
the hooks of two deliveries of one task may run in any order and the ledger stays right.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, case, func, update
from sqlalchemy.engine import CursorResult

from tasks.extensions import db
from tasks.models import ACTIVE_STATES, Job, JobState

FINISHABLE_STATES = (*ACTIVE_STATES, JobState.FAILED, JobState.DEAD)


@dataclass(frozen=True)
class Delivery:
    """One delivery of a job's task, as claimed in the ledger."""

    job_id: uuid.UUID
    number: int
    state: str

    @property
    def runnable(self) -> bool:
        return self.state == JobState.RUNNING


def _execute(statement: Update) -> CursorResult[Any]:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(statement)


def claim(job_id: uuid.UUID, retries: int, max_redeliveries: int) -> Delivery | None:
    """Count this delivery and mark the job running; None when the job is over or unknown.

    A delivery that is neither the first nor a Celery retry is a redelivery: the message came
    back because a worker died holding it. Past `max_redeliveries` of those the job is dead
    (the returned delivery is not runnable), so a task that kills its worker cannot loop.
    """
    # In SET expressions columns hold the values before the update; RETURNING gives after.
    poison = (Job.attempts - retries) > max_redeliveries
    given_up = func.concat(
        "given up after ",
        Job.attempts + 1,
        " deliveries: the task never finished (its worker died or was killed each time)",
    )
    row = _execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_(ACTIVE_STATES))
        .values(
            attempts=Job.attempts + 1,
            deliveries=Job.deliveries + 1,
            state=case((poison, JobState.DEAD), else_=JobState.RUNNING),
            error=case((poison, given_up), else_=Job.error),
            finished_at=case((poison, func.now()), else_=None),
            started_at=func.coalesce(Job.started_at, func.now()),
            claimed_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Job.deliveries, Job.state)
    ).first()
    return None if row is None else Delivery(job_id, row[0], row[1])


def _of_delivery(delivery: Delivery, *states: str) -> Update:
    return update(Job).where(
        Job.id == delivery.job_id, Job.deliveries == delivery.number, Job.state.in_(states)
    )


def progress(delivery: Delivery, done: int, total: int) -> None:
    _execute(
        _of_delivery(delivery, JobState.RUNNING).values(
            progress_done=done, progress_total=total, updated_at=func.now()
        )
    )


def succeeded(delivery: Delivery, result: Any) -> None:
    """Any delivery that finishes the work ends the job succeeded, even one that another
    delivery's failure overtook: the work is done. Only a cancel stands."""
    _execute(
        update(Job)
        .where(Job.id == delivery.job_id, Job.state.in_(FINISHABLE_STATES))
        .values(
            state=JobState.SUCCEEDED,
            result=result,
            error=None,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )


def retrying(delivery: Delivery, error: BaseException) -> None:
    """Back to queued until the retry is delivered, unless that delivery already claimed it."""
    _execute(
        _of_delivery(delivery, JobState.RUNNING).values(
            state=JobState.QUEUED, error=describe(error), updated_at=func.now()
        )
    )


def failed(delivery: Delivery, error: BaseException, dead: bool) -> None:
    """Only the latest delivery may fail a job: an older one's failure says nothing of it."""
    _execute(
        _of_delivery(delivery, *ACTIVE_STATES).values(
            state=JobState.DEAD if dead else JobState.FAILED,
            error=describe(error),
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip().removesuffix(":")
