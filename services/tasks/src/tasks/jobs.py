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
        task.apply_async(kwargs=kwargs, task_id=str(job.id))
    except PUBLISH_ERRORS as exc:
        db.session.delete(job)
        db.session.commit()
        raise BrokerUnavailable("the job queue is unavailable; nothing was started") from exc
    return job


def find_job(job_id: str) -> Job | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    return db.session.get(Job, key)
