import time

from celery import shared_task


@shared_task(name="tasks.very_slow_add", ignore_result=False)
def very_slow_add(a: int, b: int) -> int:
    """The tutorial's demonstration: slow on purpose."""
    time.sleep(3)
    return a + b
