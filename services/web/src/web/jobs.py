import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from flask import Blueprint, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import BadRequest, NotFound

from tasks import very_slow_add
from tasks.jobs import cancel_job, find_job, retry_job, start_job
from tasks.models import Job
from web.payload import json_object, paginated
from web.schemas import JobListArgs, SlowAddArgs, job_schema, jobs_schema

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

IDEMPOTENCY_KEY_MAX = 200


def accept_job(
    task: Task, arguments: dict[str, Any], with_job: Callable[[uuid.UUID], None] | None = None
) -> tuple[dict, int, dict[str, str]]:
    """Start `task` as a job; 202 Accepted with the job to follow at its Location.

    The same Idempotency-Key returns the same job instead of starting another.
    """
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= IDEMPOTENCY_KEY_MAX:
        raise BadRequest(f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters")
    job, created = start_job(task, arguments, idempotency_key=key, with_job=with_job)
    headers = {"Location": url_for("jobs.get_job", job_id=job.id)}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return job_schema.dump(job), 202, headers


def _job_or_404(job_id: str) -> Job:
    job = find_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


@bp.post("/slow-add")
def start_slow_add() -> tuple[dict, int, dict[str, str]]:
    """The tutorial's point: push a slow task and answer without waiting for it."""
    return accept_job(very_slow_add, SlowAddArgs().load(json_object()))


@bp.get("")
def list_jobs() -> dict:
    args = JobListArgs().load(request.args)
    query = select(Job).order_by(Job.created_at.desc(), Job.id)
    if args.get("state"):
        query = query.where(Job.state == args["state"])
    return paginated(query, args, jobs_schema)


@bp.get("/<job_id>")
def get_job(job_id: str) -> dict:
    return job_schema.dump(_job_or_404(job_id))


@bp.post("/<uuid:job_id>/retry")
def retry(job_id: uuid.UUID) -> tuple[dict, int, dict[str, str]]:
    job = retry_job(job_id)
    return job_schema.dump(job), 202, {"Location": url_for("jobs.get_job", job_id=job.id)}


@bp.delete("/<uuid:job_id>")
def cancel(job_id: uuid.UUID) -> dict:
    return job_schema.dump(cancel_job(job_id))
