"""A job type of the tests' own that fails, loaded by workers through CELERY_IMPORTS: with an
error its task does not retry (the job ends failed), or with one it retries until its
retries run out (dead)."""

from tasks import JobContext, job_task


class Transient(Exception):
    """Retried by the task, once."""


@job_task(name="tests.fail", autoretry_for=(Transient,), max_retries=1)
def fail(job: JobContext, message: str, transient: bool = False) -> None:
    raise (Transient if transient else RuntimeError)(message)
