"""Resumable work over many products: its scope is fixed on the first delivery, and a
checkpoint (the last product id done, committed with the work) says where it got to."""

import uuid

from sqlalchemy import ColumnElement, func, select, update

from tasks.extensions import db
from tasks.models import Job, Product


def fix_scope(job_id: uuid.UUID, in_scope: ColumnElement[bool] | None) -> bool:
    """On the first delivery: the products in scope are those that exist now, up to the
    largest id; progress counts them. Later deliveries keep what the first one fixed.
    True when this delivery fixed it (the work starts from the beginning)."""
    job = db.session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one()
    fresh = job.checkpoint_end is None
    if fresh:
        end = db.session.scalar(select(func.coalesce(func.max(Product.id), 0)))
        counted = select(func.count()).select_from(Product).where(Product.id <= end)
        if in_scope is not None:
            counted = counted.where(in_scope)
        job.checkpoint, job.checkpoint_end, job.progress_done = 0, end, 0
        job.progress_total = db.session.scalar(counted)
    db.session.commit()
    return fresh


def reset_scope(job_id: uuid.UUID) -> None:
    """Forget the scope and checkpoint: the next delivery starts from the beginning."""
    db.session.execute(
        update(Job).where(Job.id == job_id).values(checkpoint=None, checkpoint_end=None)
    )
    db.session.commit()
