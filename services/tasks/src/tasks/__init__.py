"""The shared library of the stack: settings, data layer, the Celery app, jobs and the work.

`job_task` makes a function a job's task; `tasks.jobs.start_job` starts one.
"""

from tasks.app import create_app
from tasks.job_task import JobCancelled, JobContext, job_task
from tasks.work.demo import very_slow_add

__all__ = ["JobCancelled", "JobContext", "create_app", "job_task", "very_slow_add"]
