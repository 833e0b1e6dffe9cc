"""Job state, written by the worker as a task is delivered, progresses and ends.

Tasks published without a job row (say, from `flask shell`) run as usual and update nothing.
"""

import uuid
from typing import Any

from sqlalchemy import func, select, update

from tasks.extensions import db
from tasks.models import ACTIVE_STATES, Job, JobState


def _job_id(task_id: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(task_id))
    except ValueError:
        return None


def _update(task_id: str, *where: Any, **values: Any) -> bool:
    job_id = _job_id(task_id)
    if job_id is None:
        return False
    result = db.session.execute(update(Job).where(Job.id == job_id, *where).values(**values))
    db.session.commit()
    return bool(result.rowcount)


def claim(task_id: str, retries: int, max_redeliveries: int) -> bool:
    """Count this delivery. False when the task must not run: its job is over, or is poison.

    A delivery that is neither the first nor a Celery retry is a redelivery: the message
    came back because a worker died holding it. After `max_redeliveries` of those the job
    is dead, so a task that kills its worker every time cannot loop for ever.
    """
    job_id = _job_id(task_id)
    if job_id is None:
        return True
    attempts = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_(ACTIVE_STATES))
        .values(
            state=JobState.RUNNING,
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, func.now()),
        )
        .returning(Job.attempts)
    ).scalar()
    if attempts is None:
        db.session.commit()
        known = db.session.scalar(select(Job.id).where(Job.id == job_id)) is not None
        return not known
    redeliveries = attempts - 1 - retries
    if redeliveries > max_redeliveries:
        db.session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state=JobState.DEAD,
                error=f"given up after {attempts} deliveries: the task never finished "
                f"(its worker died or was killed each time)",
                finished_at=func.now(),
            )
        )
        db.session.commit()
        return False
    db.session.commit()
    return True


def is_cancelled(task_id: str) -> bool:
    job_id = _job_id(task_id)
    if job_id is None:
        return False
    state = db.session.scalar(select(Job.state).where(Job.id == job_id))
    return state == JobState.CANCELLED


def job_progress(task_id: str, done: int, total: int) -> None:
    _update(task_id, progress_done=done, progress_total=total)


def job_succeeded(task_id: str, result: Any) -> None:
    _update(
        task_id,
        Job.state == JobState.RUNNING,
        state=JobState.SUCCEEDED,
        result=result,
        error=None,
        finished_at=func.now(),
    )


def job_retrying(task_id: str, error: BaseException) -> None:
    _update(task_id, Job.state == JobState.RUNNING, state=JobState.QUEUED, error=describe(error))


def job_failed(task_id: str, error: BaseException, dead: bool) -> None:
    _update(
        task_id,
        Job.state.in_(ACTIVE_STATES),
        state=JobState.DEAD if dead else JobState.FAILED,
        error=describe(error),
        finished_at=func.now(),
    )


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip().removesuffix(":")
