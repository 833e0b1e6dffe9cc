"""Job state, written by the worker as a task starts, progresses and ends.

Tasks published without a job row (say, from `flask shell`) update nothing.
"""

import logging
import uuid
from typing import Any

from sqlalchemy import func, update

from tasks.extensions import db
from tasks.models import Job, JobState

log = logging.getLogger(__name__)


def _update(task_id: str, *where: Any, **values: Any) -> None:
    try:
        job_id = uuid.UUID(task_id)
    except ValueError:
        return
    db.session.execute(update(Job).where(Job.id == job_id, *where).values(**values))
    db.session.commit()


def job_started(task_id: str) -> None:
    _update(
        task_id,
        Job.state.in_([JobState.QUEUED, JobState.RUNNING]),
        state=JobState.RUNNING,
        attempts=Job.attempts + 1,
        started_at=func.coalesce(Job.started_at, func.now()),
    )


def job_progress(task_id: str, done: int, total: int) -> None:
    _update(task_id, progress_done=done, progress_total=total)


def job_succeeded(task_id: str, result: Any) -> None:
    _update(task_id, state=JobState.SUCCEEDED, result=result, error=None, finished_at=func.now())


def job_failed(task_id: str, error: BaseException) -> None:
    _update(
        task_id,
        state=JobState.FAILED,
        error=f"{type(error).__name__}: {error}",
        finished_at=func.now(),
    )
