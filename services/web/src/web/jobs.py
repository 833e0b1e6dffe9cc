from flask import Blueprint, url_for
from werkzeug.exceptions import NotFound

from tasks import very_slow_add
from tasks.jobs import find_job, start_job
from tasks.models import Job
from web.payload import json_object
from web.schemas import SlowAddArgs, job_schema

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def accepted(job: Job) -> tuple[dict, int, dict[str, str]]:
    """202 Accepted: the work is queued; follow it at the Location."""
    return job_schema.dump(job), 202, {"Location": url_for("jobs.get_job", job_id=job.id)}


@bp.post("/slow-add")
def start_slow_add() -> tuple[dict, int, dict[str, str]]:
    """The tutorial's point: push a slow task and answer without waiting for it."""
    return accepted(start_job(very_slow_add, **SlowAddArgs().load(json_object())))


@bp.get("/<job_id>")
def get_job(job_id: str) -> dict:
    job = find_job(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job_schema.dump(job)
