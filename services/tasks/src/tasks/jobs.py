"""Starting and steering background work.

A job row is committed before its task is published, so a worker never looks for a row that
is not there yet. Every change of a job's state is one conditional UPDATE whose WHERE names
the states it may leave: of concurrent requests for the same change exactly one wins.
"""

import re
import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from tasks import database
from tasks.errors import REDIS_ERRORS, BrokerUnavailable, JobConflict, JobNotFound
from tasks.extensions import db
from tasks.headers import JOB_HEADER, REQUEST_ID_HEADER
from tasks.models import (
    ACTIVE_STATES,
    RETRYABLE_STATES,
    Job,
    JobState,
    MessageState,
    OutboxMessage,
)
from tasks.observability.ids import current_ids, note_job

# An Idempotency-Key whose job vanished meanwhile (its publish failed) is tried again.
IDEMPOTENT_INSERT_TRIES = 3
# A job id as the API spells it (8-4-4-4-12 hex digits), or its 32 hex digits alone.
_JOB_ID = re.compile(
    r"[0-9a-f]{8}(-?)[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{12}", re.ASCII | re.IGNORECASE
)


def start_job(
    task: Task,
    arguments: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    with_job: Callable[[uuid.UUID], None] | None = None,
) -> tuple[Job, bool]:
    """Record a job (and what `with_job` adds, in the same transaction), then publish it.

    Returns the job and whether it is new: a known `idempotency_key` returns its job, also
    to concurrent requests; the same key with other arguments is a JobConflict.
    """
    for _ in range(IDEMPOTENT_INSERT_TRIES):
        job = _insert_job(task, arguments, idempotency_key)
        if job is not None:
            break
        db.session.rollback()
        existing = db.session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is not None:
            if (existing.kind, existing.arguments) != (task.name, arguments):
                raise JobConflict(
                    f"Idempotency-Key {idempotency_key!r} was used for a different request"
                )
            return existing, False
    else:
        raise JobConflict(f"Idempotency-Key {idempotency_key!r} is in use; try again")
    note_job(job.id)
    if with_job is not None:
        with_job(job.id)
    # The job is not in the session (nothing of it expires at the commit): neither the
    # publish nor the caller asks PostgreSQL for it again.
    db.session.commit()
    try:
        publish_job(job)
    except BaseException:
        # Not published, so no worker will ever pick it up: leave nothing behind, even when
        # the publish used up the request's time.
        db.session.rollback()
        with database.renewed_deadline():
            db.session.execute(delete(Job).where(Job.id == job.id, Job.deliveries == 0))
            db.session.commit()
        raise
    return job, True


# Core INSERTs that return only what PostgreSQL sets (the ORM's bulk INSERT machinery took
# as long as the statement's round trip), built once: building one and computing its cache
# key on every job cost a fifth of a job's start.
_INSERT_JOB = insert(Job.__table__).returning(Job.created_at, Job.updated_at)
_INSERT_JOB_UNLESS_KEY_TAKEN = _INSERT_JOB.on_conflict_do_nothing(
    index_elements=[Job.idempotency_key]
)


def _insert_job(task: Task, arguments: dict[str, Any], idempotency_key: str | None) -> Job | None:
    """The new job, or None when another holds `idempotency_key` (no exception, no 500)."""
    values = {
        "id": uuid.uuid4(),
        "kind": task.name,
        "arguments": arguments,
        "idempotency_key": idempotency_key,
        "state": JobState.QUEUED,
        "request_id": current_ids().get("request_id"),
        "attempts": 0,
        "deliveries": 0,
    }
    statement = _INSERT_JOB if idempotency_key is None else _INSERT_JOB_UNLESS_KEY_TAKEN
    row = db.session.execute(statement, values).first()
    if row is None:
        return None
    return Job(**values, created_at=row.created_at, updated_at=row.updated_at)


def publish_job(job: Job) -> None:
    # This Flask app's own Celery app: with several apps in one process (tests), Celery's
    # "current" app need not be this one.
    celery = current_app.extensions["celery"]
    task = celery.tasks[job.kind]
    try:
        # The message and its task-sent event go to Redis in one round trip (kombu's
        # publish batch, a pipeline), or not at all.
        with celery.producer_or_acquire() as producer, producer.batch():
            # The result lives on the job row. Skipping Celery's result store also spares
            # the publish its subscription to Redis, which fails badly while Redis is down.
            task.apply_async(
                kwargs=job.arguments,
                task_id=str(job.id),
                ignore_result=True,
                headers={JOB_HEADER: True, REQUEST_ID_HEADER: job.latest_request_id},
                producer=producer,
            )
    except REDIS_ERRORS as error:
        raise BrokerUnavailable("the job queue is unavailable; nothing was started") from error


def parse_job_id(text: str) -> uuid.UUID:
    """The job id `text` spells (hex digits in ASCII only: uuid.UUID would also take other
    scripts' digits, braces, "urn:uuid:", a sign or a 0x, and hyphens anywhere); JobNotFound
    for anything else."""
    if _JOB_ID.fullmatch(text):
        return uuid.UUID(text)
    raise JobNotFound(f"no job {text}")


def find_job(job_id: str) -> Job:
    job = db.session.get(Job, parse_job_id(job_id))
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    return job


def _conflict_or_missing(job_id: uuid.UUID, wanted: str) -> Exception:
    state = db.session.scalar(select(Job.state).where(Job.id == job_id))
    db.session.rollback()
    if state is None:
        return JobNotFound(f"no job {job_id}")
    return JobConflict(f"a {state} job cannot be {wanted}")


def retry_job(job_id: uuid.UUID) -> Job:
    """Queue a failed, dead or cancelled job again; resumable work carries on where it stopped
    and email not sent for good is tried once more."""
    before = (
        select(Job.id, Job.state, Job.attempts, Job.error, Job.finished_at)
        .where(Job.id == job_id)
        .with_for_update()
        .subquery("before")
    )
    row = db.session.execute(
        update(Job)
        .where(Job.id == before.c.id, before.c.state.in_(RETRYABLE_STATES))
        .values(
            state=JobState.QUEUED,
            attempts=0,
            error=None,
            finished_at=None,
            updated_at=func.now(),
            **_retrying_request(),
        )
        .returning(Job, before.c.state, before.c.attempts, before.c.error, before.c.finished_at)
    ).first()
    if row is None:
        raise _conflict_or_missing(job_id, "retried")
    job, *previous = row
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.job_id == job_id,
            OutboxMessage.state.in_([MessageState.FAILED, MessageState.HELD]),
        )
        .values(state=MessageState.PENDING, error=None)
    )
    # Kept as written, so nothing between the commit and the publish asks PostgreSQL.
    db.session.expunge(job)
    db.session.commit()
    try:
        publish_job(job)
    except BaseException:
        # Back as it was, unless a delivery claimed it meanwhile (then it was published).
        state, attempts, error, finished_at = previous
        db.session.rollback()
        with database.renewed_deadline():
            db.session.execute(
                update(Job)
                .where(
                    Job.id == job_id, Job.state == JobState.QUEUED, Job.deliveries == job.deliveries
                )
                .values(state=state, attempts=attempts, error=error, finished_at=finished_at)
            )
            db.session.commit()
        raise
    return job


def _retrying_request() -> dict[str, str]:
    """A retry asked for in a request (not by a command) names that request from now on."""
    given = current_ids().get("request_id")
    return {"retry_request_id": given} if given else {}


def cancel_job(job_id: uuid.UUID) -> Job:
    """Cancel a queued or running job: a worker skips its task, or stops at the next checkpoint.

    No Celery revoke: workers would remember the id and drop the task of a later retry.
    """
    job = db.session.scalar(
        update(Job)
        .where(Job.id == job_id, Job.state.in_(ACTIVE_STATES))
        .values(state=JobState.CANCELLED, finished_at=func.now(), updated_at=func.now())
        .returning(Job)
    )
    if job is None:
        raise _conflict_or_missing(job_id, "cancelled")
    db.session.commit()
    return job
