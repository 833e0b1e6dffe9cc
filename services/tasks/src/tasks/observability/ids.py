"""The ids that say what a process is doing: the HTTP request's, the job's and the task's.

Log lines, error reports and spans name them; `current_ids()` is the one place that knows
where each comes from: in the web process, the app context of the request (`g.request_id`,
and `g.job_id` once the request started a job); in a worker, the task being run, whose
message carries the request id of whoever (re)queued its job (tasks/jobs.py).
"""

from celery import current_task
from flask import g, has_app_context

from tasks.headers import JOB_HEADER, REQUEST_ID_HEADER
from tasks.observability.tracing import current_trace_id


def current_ids() -> dict[str, str]:
    """`request_id`, `job_id`, `task_id` and `trace_id` (when tracing is on), those that
    are known here and now."""
    ids: dict[str, str] = {}
    task = current_task._get_current_object()
    if task is not None and task.request.id is not None:
        ids["task_id"] = task.request.id
        if task.request.get(JOB_HEADER):
            ids["job_id"] = task.request.id
        if given := task.request.get(REQUEST_ID_HEADER):
            ids["request_id"] = given
    if has_app_context():
        for name in ("request_id", "job_id"):
            if name not in ids and (given := g.get(name)):
                ids[name] = str(given)
    if trace_id := current_trace_id():
        ids["trace_id"] = trace_id
    return ids


def note_job(job_id: object) -> None:
    """From here on, this request's log lines name the job it started."""
    if has_app_context():
        g.job_id = str(job_id)
