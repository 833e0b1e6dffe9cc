"""Jobs over HTTP: start one (`starts_job` and `accept_job`, for every endpoint that starts
work), follow, list, retry and cancel them."""

import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from flask import request, url_for
from marshmallow import Schema
from sqlalchemy import select
from werkzeug.exceptions import BadRequest

from tasks import very_slow_add
from tasks.api_keys import JOBS, READ
from tasks.jobs import cancel_job, find_job, parse_job_id, retry_job, start_job
from tasks.models import Job
from web import metrics
from web.openapi import Blueprint, View
from web.pagination import paginated
from web.rate_limits import limited
from web.schemas import JobListArgs, JobPageSchema, JobSchema, SlowAddArgs

bp = Blueprint("jobs", __name__, url_prefix="/jobs", description="Background work.")

Accepted = tuple[Job, int, dict[str, str]]
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


def starts_job(
    blueprint: Blueprint, arguments: type[Schema] | Schema | None = None
) -> Callable[[View], View]:
    """An endpoint of `blueprint` that starts a job, its parts in the one order that works: a
    key with the `jobs` scope first; then the rate limits, per that key and per client
    address; then the request's `arguments`, if it takes any; and its answer, 202 with the
    job, documented with its Idempotency-Key and everything else it may answer. The view
    returns `accept_job(...)`."""

    def decorator(view: View) -> View:
        view = blueprint.response(202, JobSchema, headers=JOB_STARTED)(view)
        if arguments is not None:
            view = blueprint.errors(413, 415)(blueprint.arguments(arguments)(view))
        view = blueprint.doc(parameters=[IDEMPOTENCY_KEY])(blueprint.errors(409, 429)(view))
        return blueprint.requires(JOBS)(limited(view))

    return decorator


def accept_job(
    task: Task, arguments: dict[str, Any], with_job: Callable[[uuid.UUID], None] | None = None
) -> Accepted:
    """Start `task` as a job with `arguments` (and what `with_job` writes in the same
    transaction); 202 Accepted with the job to follow at its Location. The same
    Idempotency-Key returns the same job instead of starting another."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= IDEMPOTENCY_KEY_MAX:
        raise BadRequest(f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters")
    job, created = start_job(task, arguments, idempotency_key=key, with_job=with_job)
    headers = {"Location": url_for("jobs.get_job", job_id=job.id)}
    if created:
        metrics.job_started(job.kind)
    else:
        headers["Idempotent-Replayed"] = "true"
    return job, 202, headers


@bp.post("/slow-add")
@starts_job(bp, SlowAddArgs)
def start_slow_add(numbers: dict[str, int]) -> Accepted:
    """The tutorial's point: push a slow task and answer without waiting for it."""
    return accept_job(very_slow_add, numbers)


@bp.get("")
@bp.requires(READ)
@bp.arguments(JobListArgs, location="query")
@bp.response(200, JobPageSchema)
def list_jobs(args: dict[str, Any]) -> dict[str, Any]:
    """Jobs, newest first, optionally in one state."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id)
    if args.get("state"):
        query = query.where(Job.state == args["state"])
    return paginated(query, args)


# Every route of a job takes its id as a string, so that any id is a 404 whatever the
# method (a uuid converter on some of them would make werkzeug answer 405 to the others).
@bp.get("/<job_id>")
@bp.requires(READ)
@bp.errors(404)
@bp.response(200, JobSchema)
def get_job(job_id: str) -> Job:
    """A job: its state, attempts, progress, and result or error."""
    return find_job(job_id)


@bp.post("/<job_id>/retry")
@bp.requires(JOBS)
@bp.errors(404, 409)
@bp.response(202, JobSchema, headers={"Location": JOB_STARTED["Location"]})
def retry(job_id: str) -> Accepted:
    """Queue a failed, dead or cancelled job again."""
    job = retry_job(parse_job_id(job_id))
    return job, 202, {"Location": url_for("jobs.get_job", job_id=job.id)}


@bp.delete("/<job_id>")
@bp.requires(JOBS)
@bp.errors(404, 409)
@bp.response(200, JobSchema)
def cancel(job_id: str) -> Job:
    """Cancel a queued or running job."""
    return cancel_job(parse_job_id(job_id))
