"""Periodic work, sent by the beat process (schedule in config.py)."""

from datetime import timedelta

from celery import shared_task
from sqlalchemy import and_, delete, func, or_, select

from tasks.errors import DEPENDENCY_ERRORS, BrokerUnavailable
from tasks.extensions import db
from tasks.jobs import publish_job
from tasks.models import Job, JobState


@shared_task(name="tasks.requeue_stuck_jobs", autoretry_for=DEPENDENCY_ERRORS)
def requeue_stuck_jobs(older_than: int, running_longer_than: int) -> int:
    """Publish again the jobs whose message was lost: queued and untouched for `older_than`
    seconds (say, Redis lost data), or running for longer than any delivery can run (its
    worker died, or its end could not be recorded, and Redis no longer holds the message).
    Tasks are idempotent and deliveries are counted, so a second message does no harm."""
    stuck = db.session.scalars(
        select(Job)
        .where(
            or_(
                and_(
                    Job.state == JobState.QUEUED,
                    Job.updated_at < func.now() - timedelta(seconds=older_than),
                ),
                and_(
                    Job.state == JobState.RUNNING,
                    Job.claimed_at < func.now() - timedelta(seconds=running_longer_than),
                ),
            )
        )
        .order_by(Job.updated_at)
        .limit(1000)
    ).all()
    db.session.commit()
    for job in stuck:
        try:
            publish_job(job)
        except BrokerUnavailable:
            break  # Redis is down again; the next run tries again
    return len(stuck)


@shared_task(name="tasks.expire_old_jobs", autoretry_for=DEPENDENCY_ERRORS)
def expire_old_jobs(older_than_days: int) -> int:
    """Delete succeeded and cancelled jobs finished more than `older_than_days` ago; failed
    and dead jobs stay until someone looks at them."""
    cutoff = func.now() - timedelta(days=older_than_days)
    deleted = db.session.execute(
        delete(Job).where(
            Job.state.in_([JobState.SUCCEEDED, JobState.CANCELLED]), Job.finished_at < cutoff
        )
    ).rowcount
    db.session.commit()
    return deleted
