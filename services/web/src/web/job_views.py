import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from flask import request, url_for
from sqlalchemy import select
from werkzeug.exceptions import BadRequest, NotFound

from tasks import very_slow_add
from tasks.api_keys import JOBS, READ
from tasks.jobs import cancel_job, find_job, retry_job, start_job
from tasks.models import Job
from web.auth import requires
from web.openapi import Blueprint
from web.payload import paginated
from web.rate_limits import limited
from web.schemas import JobListArgs, JobPageSchema, JobSchema, SlowAddArgs

bp = Blueprint("jobs", __name__, url_prefix="/jobs", description="Background work.")

IDEMPOTENCY_KEY_MAX = 200
# The headers of a 202 that started (or replayed) a job, for the API's description.
JOB_STARTED = {
    "Location": {"description": "Where to follow the job", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when an earlier request with this Idempotency-Key made the job",
        "schema": {"type": "string"},
    },
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "The same key returns the same job instead of starting another "
    "(409 if the request differs)",
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
}


def starts_jobs(view: Callable[..., Any]) -> Callable[..., Any]:
    """An endpoint that starts a job: rate limited (web.rate_limits), and described with its
    Idempotency-Key and what it may answer (a key reused for another request, too many
    calls, Redis unavailable). Put it below web.auth.requires."""
    limited_view = limited(view)
    doc = limited_view.__dict__.setdefault("_apidoc", {})
    doc.setdefault("errors", set()).update({409, 429})
    doc.setdefault("manual_doc", {}).setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    return limited_view


def accept_job(
    task: Task, arguments: dict[str, Any], with_job: Callable[[uuid.UUID], None] | None = None
) -> tuple[Job, int, dict[str, str]]:
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
    return job, 202, headers


def _job_or_404(job_id: str) -> Job:
    job = find_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def _job_id(job_id: str) -> uuid.UUID:
    # A string in every route of a job, so that any id is a 404 whatever the method (a
    # uuid converter on some of them would make werkzeug answer 405 to the others).
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"no job {job_id}") from None


@bp.post("/slow-add")
@requires(JOBS)
@starts_jobs
@bp.errors(413, 415)
@bp.arguments(SlowAddArgs)
@bp.response(202, JobSchema, headers=JOB_STARTED)
def start_slow_add(numbers: dict[str, int]) -> tuple[Job, int, dict[str, str]]:
    """The tutorial's point: push a slow task and answer without waiting for it."""
    return accept_job(very_slow_add, numbers)


@bp.get("")
@requires(READ)
@bp.arguments(JobListArgs, location="query")
@bp.response(200, JobPageSchema)
def list_jobs(args: dict[str, Any]) -> dict[str, Any]:
    """Jobs, newest first, optionally in one state."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id)
    if args.get("state"):
        query = query.where(Job.state == args["state"])
    return paginated(query, args)


@bp.get("/<job_id>")
@requires(READ)
@bp.errors(404)
@bp.response(200, JobSchema)
def get_job(job_id: str) -> Job:
    """A job: its state, attempts, progress, and result or error."""
    return _job_or_404(job_id)


@bp.post("/<job_id>/retry")
@requires(JOBS)
@bp.errors(404, 409)
@bp.response(202, JobSchema, headers={"Location": JOB_STARTED["Location"]})
def retry(job_id: str) -> tuple[Job, int, dict[str, str]]:
    """Queue a failed, dead or cancelled job again."""
    job = retry_job(_job_id(job_id))
    return job, 202, {"Location": url_for("jobs.get_job", job_id=job.id)}


@bp.delete("/<job_id>")
@requires(JOBS)
@bp.errors(404, 409)
@bp.response(200, JobSchema)
def cancel(job_id: str) -> Job:
    """Cancel a queued or running job."""
    return cancel_job(_job_id(job_id))
