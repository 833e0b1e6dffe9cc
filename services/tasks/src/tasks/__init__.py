"""The shared library of the stack: settings, data layer, the Celery app, jobs and the work.

`job_task` makes a function a job's task; `tasks.jobs.start_job` starts one. The names below
are imported when first asked for, so that `import tasks.settings` (a health check, gunicorn's
master) costs no Celery, SQLAlchemy or app.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.app import create_app
    from tasks.job_lifecycle import JobCancelled, JobContext, job_task
    from tasks.work.demo import very_slow_add

_HOMES = {
    "create_app": "tasks.app",
    "JobCancelled": "tasks.job_lifecycle",
    "JobContext": "tasks.job_lifecycle",
    "job_task": "tasks.job_lifecycle",
    "very_slow_add": "tasks.work.demo",
}

__all__ = ["JobCancelled", "JobContext", "create_app", "job_task", "very_slow_add"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
