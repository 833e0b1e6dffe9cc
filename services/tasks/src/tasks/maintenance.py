"""Periodic work, sent by the beat process (schedule in config.py)."""

from datetime import timedelta

from celery import shared_task
from sqlalchemy import delete, func, select

from tasks.extensions import db
from tasks.jobs import BrokerUnavailable, publish_job
from tasks.models import Job, JobState


@shared_task(name="tasks.requeue_stuck_jobs")
def requeue_stuck_jobs(older_than: int) -> int:
    """Publish again the jobs still queued and never started after `older_than` seconds:
    their message was lost (say, Redis lost data). Tasks are idempotent and deliveries are
    counted, so a second message for a job does no harm."""
    cutoff = func.now() - timedelta(seconds=older_than)
    stuck = db.session.scalars(
        select(Job)
        .where(Job.state == JobState.QUEUED, Job.started_at.is_(None), Job.created_at < cutoff)
        .order_by(Job.created_at)
        .limit(1000)
    ).all()
    db.session.commit()
    for job in stuck:
        try:
            publish_job(job)
        except BrokerUnavailable:
            break  # Redis is down again; the next run tries again
    return len(stuck)


@shared_task(name="tasks.expire_old_jobs")
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
