"""Starting and steering background work. A job row is committed before its task is
published, so a worker never looks for a row that is not there yet."""

import uuid
from collections.abc import Callable
from typing import Any

from celery import Task, current_app
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tasks.extensions import db
from tasks.models import (
    ACTIVE_STATES,
    RETRYABLE_STATES,
    Job,
    JobState,
    MessageState,
    OutboxMessage,
)

# What a publish raises when Redis is down or unreachable.
PUBLISH_ERRORS = (OperationalError, RedisError, OSError)


class BrokerUnavailable(RuntimeError):
    """The broker did not take the job; nothing was started."""


class JobConflict(RuntimeError):
    """The job is not in a state that allows what was asked."""


def start_job(
    task: Task,
    arguments: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    with_job: Callable[[Job], None] | None = None,
) -> tuple[Job, bool]:
    """Record a job (and what `with_job` adds, in the same transaction), then publish it.

    Returns the job and whether it is new: a known `idempotency_key` returns its job.
    """
    if idempotency_key is not None:
        existing = _by_idempotency_key(task, arguments, idempotency_key)
        if existing is not None:
            return existing, False
    job = Job(id=uuid.uuid4(), kind=task.name, arguments=arguments, idempotency_key=idempotency_key)
    db.session.add(job)
    db.session.flush()
    if with_job is not None:
        with_job(job)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = idempotency_key and _by_idempotency_key(task, arguments, idempotency_key)
        if not existing:
            raise
        return existing, False
    try:
        publish_job(job)
    except BaseException:
        # Not published, so no worker will ever pick it up: leave nothing behind.
        db.session.delete(job)
        db.session.commit()
        raise
    return job, True


def _by_idempotency_key(task: Task, arguments: dict[str, Any], key: str) -> Job | None:
    job = db.session.scalar(select(Job).where(Job.idempotency_key == key))
    if job is not None and (job.kind, job.arguments) != (task.name, arguments):
        raise JobConflict(f"Idempotency-Key {key!r} was used for a different request")
    return job


def publish_job(job: Job) -> None:
    task = current_app.tasks[job.kind]
    try:
        # The result lives on the job row. Skipping Celery's result store also spares the
        # publish its subscription to Redis, which fails badly while Redis is down.
        task.apply_async(kwargs=job.arguments, task_id=str(job.id), ignore_result=True)
    except PUBLISH_ERRORS as exc:
        raise BrokerUnavailable("the job queue is unavailable; nothing was started") from exc


def find_job(job_id: str) -> Job | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    return db.session.get(Job, key)


def retry_job(job: Job) -> Job:
    """Queue a failed, dead or cancelled job again; resumable work carries on where it stopped
    and email refused for good is tried once more."""
    if job.state not in RETRYABLE_STATES:
        raise JobConflict(f"a {job.state} job cannot be retried")
    previous = (job.state, job.attempts, job.error, job.finished_at)
    job.state, job.attempts, job.error, job.finished_at = JobState.QUEUED, 0, None, None
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.job_id == job.id, OutboxMessage.state == MessageState.FAILED)
        .values(state=MessageState.PENDING, error=None)
    )
    db.session.commit()
    try:
        publish_job(job)
    except BrokerUnavailable:
        job.state, job.attempts, job.error, job.finished_at = previous
        db.session.commit()
        raise
    return job


def cancel_job(job: Job) -> Job:
    """Cancel a queued or running job: a worker skips its task, or stops at the next checkpoint.

    No Celery revoke: workers would remember the id and drop the task of a later retry.
    """
    if job.state not in ACTIVE_STATES:
        raise JobConflict(f"a {job.state} job cannot be cancelled")
    job.state = JobState.CANCELLED
    job.finished_at = func.now()
    db.session.commit()
    db.session.refresh(job)
    return job
