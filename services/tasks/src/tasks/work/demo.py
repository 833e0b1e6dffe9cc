import time

from tasks.job_lifecycle import JobContext, job_task


@job_task(name="tasks.very_slow_add", ignore_result=False)
def very_slow_add(job: JobContext, a: int, b: int) -> int:
    """The tutorial's demonstration: slow on purpose."""
    time.sleep(3)
    return a + b
