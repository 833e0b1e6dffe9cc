"""The job ledger: what workers record of a job's deliveries, progress and end.

Each entry is one conditional UPDATE, committed on its own. Its WHERE names the states the
job may leave and, for what only the current delivery may record, the delivery's number:
the hooks of two deliveries of one task may run in any order and the ledger stays right.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Engine, Text, Update, Uuid, bindparam, case, create_engine, func, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError

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


def engine() -> Engine:
    """The ledger's engine, one per process: every entry is one statement, committed on its
    own (autocommit connections), and no ping on checkout (a round trip each time): a
    connection found dead is replaced and the entry sent again (see _execute)."""
    ledger_engine = current_app.extensions.get("ledger_engine")
    if ledger_engine is None:
        options = current_app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        ledger_engine = create_engine(
            current_app.config["SQLALCHEMY_DATABASE_URI"],
            **{**options, "pool_pre_ping": False, "isolation_level": "AUTOCOMMIT"},
        )
        current_app.extensions["ledger_engine"] = ledger_engine
    return ledger_engine


def _execute(statement: Update, **parameters: Any) -> CursorResult[Any]:
    for attempt in (1, 2):
        try:
            with engine().connect() as connection:
                return connection.execute(statement, parameters)
        except DBAPIError as error:
            # A connection PostgreSQL closed (it restarted, say) is invalidated by now.
            if attempt == 2 or not error.connection_invalidated:
                raise
    raise AssertionError("unreachable")


# The statements, built once: each entry only sends its parameters.
_job = bindparam("job_id", type_=Uuid)
_delivery = bindparam("delivery")
_error = bindparam("error", type_=Text)
# In SET expressions columns hold the values before the update; RETURNING gives after.
_poison = (Job.attempts - bindparam("retries")) > bindparam("max_redeliveries")
_given_up = func.concat(
    "given up after ",
    Job.attempts + 1,
    " deliveries: the task never finished (its worker died or was killed each time)",
)
CLAIM = (
    update(Job)
    .where(Job.id == _job, Job.state.in_(ACTIVE_STATES))
    .values(
        attempts=Job.attempts + 1,
        deliveries=Job.deliveries + 1,
        state=case((_poison, JobState.DEAD), else_=JobState.RUNNING),
        error=case((_poison, _given_up), else_=Job.error),
        finished_at=case((_poison, func.now()), else_=None),
        started_at=func.coalesce(Job.started_at, func.now()),
        claimed_at=func.now(),
        updated_at=func.now(),
    )
    .returning(Job.deliveries, Job.state)
)


def _of_delivery(*states: str) -> Update:
    return update(Job).where(Job.id == _job, Job.deliveries == _delivery, Job.state.in_(states))


PROGRESS = _of_delivery(JobState.RUNNING).values(
    progress_done=bindparam("done"), progress_total=bindparam("total"), updated_at=func.now()
)
SUCCEEDED = (
    update(Job)
    .where(Job.id == _job, Job.state.in_(FINISHABLE_STATES))
    .values(
        state=JobState.SUCCEEDED,
        result=bindparam("result", type_=JSONB(none_as_null=True)),
        error=None,
        finished_at=func.now(),
        updated_at=func.now(),
    )
)
RETRYING = _of_delivery(JobState.RUNNING).values(
    state=JobState.QUEUED, error=_error, updated_at=func.now()
)
FAILED = _of_delivery(*ACTIVE_STATES).values(
    state=bindparam("state"), error=_error, finished_at=func.now(), updated_at=func.now()
)


def claim(job_id: uuid.UUID, retries: int, max_redeliveries: int) -> Delivery | None:
    """Count this delivery and mark the job running; None when the job is over or unknown.

    A delivery that is neither the first nor a Celery retry is a redelivery: the message came
    back because a worker died holding it. Past `max_redeliveries` of those the job is dead
    (the returned delivery is not runnable), so a task that kills its worker cannot loop.
    """
    row = _execute(CLAIM, job_id=job_id, retries=retries, max_redeliveries=max_redeliveries).first()
    return None if row is None else Delivery(job_id, row[0], row[1])


def progress(delivery: Delivery, done: int, total: int) -> None:
    _execute(PROGRESS, job_id=delivery.job_id, delivery=delivery.number, done=done, total=total)


def succeeded(delivery: Delivery, result: Any) -> None:
    """Any delivery that finishes the work ends the job succeeded, even one that another
    delivery's failure overtook: the work is done. Only a cancel stands."""
    _execute(SUCCEEDED, job_id=delivery.job_id, result=result)


def retrying(delivery: Delivery, error: BaseException) -> None:
    """Back to queued until the retry is delivered, unless that delivery already claimed it."""
    _execute(RETRYING, job_id=delivery.job_id, delivery=delivery.number, error=describe(error))


def failed(delivery: Delivery, error: BaseException, dead: bool) -> None:
    """Only the latest delivery may fail a job: an older one's failure says nothing of it."""
    _execute(
        FAILED,
        job_id=delivery.job_id,
        delivery=delivery.number,
        state=JobState.DEAD if dead else JobState.FAILED,
        error=describe(error),
    )


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip().removesuffix(":")
