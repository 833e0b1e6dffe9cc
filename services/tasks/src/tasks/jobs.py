"""Starting background work: record the job, commit, then publish."""

import uuid
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from tasks.extensions import db
from tasks.models import Job

# What a publish raises when Redis is down or unreachable.
PUBLISH_ERRORS = (OperationalError, RedisError, OSError)


class BrokerUnavailable(RuntimeError):
    """The broker did not take the job; nothing was started."""


def start_job(task: Task, **kwargs: Any) -> Job:
    """Publish only after the job row is committed, so a worker never looks for a missing row."""
    job = Job(kind=task.name, arguments=kwargs)
    db.session.add(job)
    db.session.commit()
    try:
        # The result is kept on the job row; skipping Celery's result store also spares the
        # publish its subscription to Redis, which fails badly while Redis is down.
        task.apply_async(kwargs=kwargs, task_id=str(job.id), ignore_result=True)
    except BaseException as exc:
        # Not published, so no worker will ever pick it up: leave no job behind.
        db.session.delete(job)
        db.session.commit()
        if isinstance(exc, PUBLISH_ERRORS):
            raise BrokerUnavailable("the job queue is unavailable; nothing was started") from exc
        raise
    return job


def find_job(job_id: str) -> Job | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    return db.session.get(Job, key)
